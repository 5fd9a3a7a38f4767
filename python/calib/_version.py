"""The package version; it must match the library's major.minor (checked at import)."""
__version__ = "0.1.0"
VERSION_NUMBER = 100  # MAJOR*10000 + MINOR*100 + PATCH, as calib_version_number()
