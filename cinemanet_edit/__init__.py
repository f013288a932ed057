"""cinemanet-edit: label every shot of a cut with cinematography terms (CinemaNet) and write them back."""

__version__ = "0.1.0"
