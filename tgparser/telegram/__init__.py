"""Telegram side of tgparser: talking to Telethon and mapping its objects to rows."""
