"""The embedded demo: a small teaching HTTP/1.1 server built on the engine itself."""
