"""tgparser: archive Telegram channels and their comments into a database you own."""

__version__ = "0.1.0"
