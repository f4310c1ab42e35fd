"""gptkit's ground floor: what every package shares and none of them owns. It imports nothing of gptkit.

    errors  GptkitError, the base of every error a user's input can cause; ConfigError, NotUTF8Error
    files   atomic writes and copies, file sha256, whole UTF-8 reads, the one-writer directory lock
    signals SIGTERM stopping as Ctrl-C does (Terminated), signals held to a step boundary (HeldSignals),
            worker processes that end on the SIGTERM that stops them (forking, in_worker)
    texts   where the bundled texts are (names, Tiny Shakespeare, the Taylor Swift article), in a clone or installed
"""
