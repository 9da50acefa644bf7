"""The data: where datasets come from, what the prepared data is, its splits and their files, users' photos."""
