"""One module per emulated API, each a route table and its handlers; ``control`` is the sandbox's own."""
