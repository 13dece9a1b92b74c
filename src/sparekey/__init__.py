"""sparekey: self-hosted two-factor authentication and account recovery."""

__version__ = "0.1.0"
