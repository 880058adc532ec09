"""What a client reads and signs: the diff between two versions as a page, and the
sign-off pack (`callpop doc`), as HTML and, through a headless Chromium, PDF."""
