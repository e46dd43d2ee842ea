"""The Textual front end and the `axha` command line; nothing else imports it."""
