"""One agent session: the loop, its tools and editor, the prompt."""
