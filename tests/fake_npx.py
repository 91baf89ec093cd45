"""A stand-in for ``npx`` (copied onto PATH by the supervisor tests; not imported by them).

``npx openai-oauth --port P`` behaves like openai-oauth according to FAKE_NPX_MODE:
``ready`` serves the fake upstream on a port of its own and prints the real banner (so ima2
must adopt the announced URL, not the configured port); ``fail`` writes a catalogue error to
stderr and exits 1; ``fail-then-ready:N`` fails N times first; ``login`` writes npm notices
and the no-auth-file error unless $FAKE_NPX_AUTH exists (then it is ``ready``); ``network``
writes ``fetch failed``; ``already`` prints
"already running at $FAKE_NPX_EXISTING/v1" and exits 0; ``decoy`` prints only a line with a
localhost URL that is not an announcement, then waits. Every start/stop is appended to
$FAKE_NPX_LOG as a JSON line.
"""
import json
import os
import signal
import sys
import time


def note(event):
    with open(os.environ["FAKE_NPX_LOG"], "a") as handle:
        handle.write(json.dumps({"t": time.time(), "event": event, "pid": os.getpid(),
                                 "argv": sys.argv[1:]}) + "\n")


def spawns_so_far():
    try:
        with open(os.environ["FAKE_NPX_LOG"]) as handle:
            return sum(1 for line in handle if '"spawn"' in line)
    except OSError:
        return 0


def main():
    mode = os.environ.get("FAKE_NPX_MODE", "ready")
    before = spawns_so_far()
    note("spawn")
    signal.signal(signal.SIGTERM, lambda *_: (note("sigterm"), os._exit(0)))
    if mode == "login" and not os.path.exists(os.environ.get("FAKE_NPX_AUTH", "/nonexistent")):
        sys.stderr.write("npm notice New minor version of npm available! 10.8.2 -> 10.9.0\n")
        sys.stderr.write("npm warn exec The following package was not found and will be "
                         "installed: openai-oauth@2.0.0\n")
        sys.stderr.write("No auth file was found in the default search paths: %s.\n"
                         "Run `npx openai-oauth login` and try again.\n"
                         % os.environ.get("FAKE_NPX_AUTH"))
        sys.exit(1)
    if mode == "network":
        sys.stderr.write("fetch failed\n")
        sys.exit(1)
    if mode == "fail" or (mode.startswith("fail-then-ready:") and before < int(mode.split(":")[1])):
        sys.stderr.write("npm warn exec The following package was not found and will be "
                         "installed: openai-oauth\n")
        sys.stderr.write("fake catalogue failure\n")
        sys.exit(1)
    if mode == "already":
        print("OpenAI OAuth is already running at %s/v1" % os.environ["FAKE_NPX_EXISTING"])
        sys.stdout.flush()
        sys.exit(0)
    if mode == "decoy":
        print("See the changelog at http://localhost:9/changelog")
        sys.stdout.flush()
        while True:
            time.sleep(1)
    sys.path.insert(0, os.environ["FAKE_NPX_TESTS"])
    from fake_upstream import FakeUpstream, success
    from pngs import b64, make_png

    fake = FakeUpstream()
    fake.default = fake.sse(success(b64(make_png(4, 4, (1, 2, 3)))))
    print("Docs: http://localhost:9/help")  # a URL line that is not the announcement
    print("\x1b[1mOpenAI-compatible endpoint ready at \x1b[4m%s/v1\x1b[0m" % fake.url)
    print("Use this as your OpenAI base URL. No API key is required.")
    print("")
    print("Available Models: gpt-5.5, gpt-5.4, gpt-5.4-mini, gpt-image-2")
    sys.stdout.flush()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
