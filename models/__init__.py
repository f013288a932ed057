"""Model files shipped with cinemanet-edit (installed as the package ``cinemanet_edit_models``)."""
