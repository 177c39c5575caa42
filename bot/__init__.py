"""The Telegram bot. It never imports torch: it reaches the model only through the queue."""
