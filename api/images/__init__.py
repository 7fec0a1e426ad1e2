"""Images the API hands out URLs for: title artwork and profile avatars."""
