"""Platform-neutral core of the IM chatbot service."""
