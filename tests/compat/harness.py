"""Harness of the Kafka-client compatibility tests: the real `sluiced`, real clients.

Each scenario file (kcat_test.py, kafka_python_test.py, ...) calls `main()` with a body that gets a
`Scenario`. The harness starts sluiced on ephemeral loopback ports in a fresh temp dir, learns the
ports from the port file, runs the body under a time budget, and always cleans up: every child it
started is killed by PID, the broker gets SIGTERM and then SIGKILL after a bound. A failure prints
one clear line (`compat_<name>: FAIL: ...`), the tail of the broker log and the kept work dir.

Only the Python standard library is used here, so the harness itself runs under any python3; the
scenarios import Debian's client modules and must run under /usr/bin/python3.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CompatError(Exception):
    """A scenario failed; the message says what was expected and what happened."""


def check(cond, message):
    if not cond:
        raise CompatError(message)


def short(data, limit=2000):
    """The tail of a child's output, decoded for an error message."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    data = data.strip()
    return data if len(data) <= limit else "..." + data[-limit:]


def read_tail(path, limit=3000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return short(f.read(), limit)
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


# --- records -------------------------------------------------------------------------------------
# Every scenario compares records as plain dicts with bytes (or None) for keys, values and header
# values, so a record read through one client or protocol compares equal to what another wrote.


def record(partition, offset, key, value, headers, timestamp):
    def b(x):
        return x.encode("utf-8") if isinstance(x, str) else x

    return {
        "partition": partition,
        "offset": offset,
        "key": b(key),
        "value": b(value),
        "headers": [(h, b(v)) for h, v in headers],
        "timestamp": timestamp,
    }


def _sort_key(r):
    return (r.get("partition", -1), r.get("offset", -1), repr(r))


def describe(r):
    return json.dumps({k: (repr(v) if isinstance(v, (bytes, list)) else v) for k, v in r.items()},
                      sort_keys=True)


def expect_records(actual, expected, what, ordered=False):
    """Fails unless `actual` holds exactly `expected` (as a multiset, or in order if `ordered`).

    The message names the count, the first difference, and what is missing or extra, which is
    what one needs to tell a lost record from a duplicate or a corrupted one."""
    if ordered:
        for i, (a, e) in enumerate(zip(actual, expected)):
            if a != e:
                raise CompatError("%s: record #%d differs\n  expected %s\n  actual   %s"
                                  % (what, i, describe(e), describe(a)))
        if len(actual) > len(expected):
            raise CompatError("%s: read %d records, expected %d; first extra: %s" % (
                what, len(actual), len(expected), describe(actual[len(expected)])))
        if len(actual) < len(expected):
            raise CompatError("%s: read %d records, expected %d; first missing: %s" % (
                what, len(actual), len(expected), describe(expected[len(actual)])))
        return
    a = sorted(actual, key=_sort_key)
    e = sorted(expected, key=_sort_key)
    if a == e:
        return
    remaining = list(e)
    extra = []
    for r in a:
        if r in remaining:
            remaining.remove(r)
        else:
            extra.append(r)
    lines = ["%s: read %d records, expected %d" % (what, len(actual), len(expected))]
    for label, items in (("missing", remaining), ("unexpected", extra)):
        if items:
            lines.append("  %d %s, first: %s" % (len(items), label, describe(items[0])))
    raise CompatError("\n".join(lines))


# --- processes -----------------------------------------------------------------------------------


def wait_pid(proc, timeout):
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def stop_process(proc, grace):
    """SIGTERM, then SIGKILL after `grace` seconds; by PID only. Returns the exit status or None."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    rc = wait_pid(proc, grace)
    if rc is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_pid(proc, 10)
    return rc


class Broker:
    """sluiced in dir/data, its log in dir/sluiced.log, on 127.0.0.1 ephemeral ports.

    start() may be called again after stop(): the data dir is kept, the ports change."""

    def __init__(self, sluiced, directory, flags):
        self.sluiced = sluiced
        self.dir = directory
        self.flags = list(flags)
        self.proc = None
        self.died = None  # exit status if it ended by itself while the scenario ran
        self.ports = {}
        self.log_path = os.path.join(directory, "sluiced.log")
        self.port_file = os.path.join(directory, "ports")
        os.makedirs(directory, exist_ok=True)

    def start(self, timeout=30.0):
        check(os.access(self.sluiced, os.X_OK), "sluiced not found or not executable: %s"
              % self.sluiced)
        try:
            os.remove(self.port_file)
        except FileNotFoundError:
            pass
        self.ports = {}
        args = [self.sluiced, "--data-dir", os.path.join(self.dir, "data"),
                "--kafka-addr", "127.0.0.1:0", "--native-addr", "127.0.0.1:0",
                "--http-addr", "127.0.0.1:0", "--port-file", self.port_file,
                "--group-initial-rebalance-delay-ms", "0", "--io-threads", "2"] + self.flags
        with open(self.log_path, "ab") as log:
            log.write(("\n=== %s\n" % " ".join(args)).encode())
            log.flush()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            ports = self._read_ports()
            # The port file is written atomically after every listener is bound, so once the
            # native and HTTP ports are there, a missing kafka= line means there is no listener.
            if "native" in ports and "http" in ports:
                self.ports = ports
                return
            if self.proc.poll() is not None:
                raise CompatError("sluiced exited with status %s during start-up; log:\n%s"
                                  % (self.proc.returncode, read_tail(self.log_path)))
            time.sleep(0.02)
        self.kill()
        raise CompatError("sluiced wrote no port file within %.0f s; log:\n%s"
                          % (timeout, read_tail(self.log_path)))

    def _read_ports(self):
        ports = {}
        try:
            with open(self.port_file) as f:
                for line in f:
                    name, sep, value = line.strip().partition("=")
                    if sep and value.isdigit():
                        ports[name] = int(value)
        except FileNotFoundError:
            pass
        return ports

    @property
    def kafka(self):
        """The Kafka listener's bootstrap address; fails the scenario clearly if there is none.

        SLUICE_COMPAT_KAFKA_BOOTSTRAP=127.0.0.1:PORT points the Kafka clients at another broker on
        loopback instead (sluiced still runs for the native side): a way to check a scenario
        itself, e.g. against librdkafka's mock cluster. Restart steps then prove nothing."""
        override = os.environ.get("SLUICE_COMPAT_KAFKA_BOOTSTRAP")
        if override:
            check(override.startswith(("127.", "localhost:")),
                  "SLUICE_COMPAT_KAFKA_BOOTSTRAP must be a loopback address, not %r" % override)
            return override
        port = self.ports.get("kafka")
        if not port:
            raise CompatError(
                "no kafka port: sluiced's port file %s has no 'kafka=' line (%s), so this build "
                "has no Kafka listener" % (self.port_file, ", ".join(
                    "%s=%d" % kv for kv in sorted(self.ports.items())) or "empty"))
        return "127.0.0.1:%d" % port

    @property
    def native(self):
        return "127.0.0.1:%d" % self.ports["native"]

    def stop(self, timeout=20.0):
        """Graceful stop (SIGTERM); SIGKILL after `timeout`. Fails unless it exited with 0."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        rc = stop_process(proc, timeout)
        self.ports = {}
        check(rc == 0, "sluiced did not stop cleanly on SIGTERM within %.0f s (status %s); log:\n%s"
              % (timeout, rc, read_tail(self.log_path)))

    def kill(self):
        """At cleanup: SIGTERM, SIGKILL if it is still there 5 s later."""
        if self.proc is not None:
            stop_process(self.proc, 5)
            self.proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Scenario:
    """What a scenario body works with: paths, the broker, and bounded child processes."""

    def __init__(self, name, args, workdir):
        self.name = name
        self.args = args
        self.sluiced = args.sluiced
        self.sluice = args.sluice
        self.workdir = workdir
        self.children = []
        self.brokers = []
        self.current_step = "start"

    def step(self, what):
        """Names what the scenario does next; a failure message says in which step it failed."""
        self.current_step = what

    def broker(self, flags=(), start=True):
        b = Broker(self.sluiced, os.path.join(self.workdir, "broker%d" % len(self.brokers)), flags)
        self.brokers.append(b)
        if start:
            b.start()
        return b

    def path(self, name):
        return os.path.join(self.workdir, name)

    def run(self, args, timeout, what, stdin=None, env=None, cwd=None, check_rc=True):
        """Runs a command to completion within `timeout` s; returns (rc, stdout, stderr) as bytes.

        A command still running at the bound is killed (by PID) and fails the scenario: a client
        that hangs is a failure, not something to wait for."""
        proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.children.append(proc)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(proc, 2)
            out, err = proc.communicate()
            raise CompatError("%s: still running after %.0f s (killed); stderr:\n%s\nstdout:\n%s"
                              % (what, timeout, short(err), short(out, 1000)))
        except BaseException:  # the budget's SIGALRM, say: the child must not outlive us
            stop_process(proc, 2)
            raise
        finally:
            if proc.poll() is not None:
                self.children.remove(proc)
        if check_rc and proc.returncode != 0:
            raise CompatError("%s: exit status %d; stderr:\n%s\nstdout:\n%s"
                              % (what, proc.returncode, short(err), short(out, 1000)))
        return proc.returncode, out, err

    def spawn(self, args, name, env=None, cwd=None):
        """Starts a child with stdout and stderr in files of the work dir (killed at cleanup)."""
        out = open(self.path(name + ".out"), "wb")
        err = open(self.path(name + ".err"), "wb")
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, cwd=cwd)
        out.close()
        err.close()
        proc.out_path = self.path(name + ".out")
        proc.err_path = self.path(name + ".err")
        self.children.append(proc)
        return proc

    def worker(self, role, worker_args, name):
        """Runs this scenario file again as a child in `role` (see main(roles=...))."""
        script = os.path.abspath(sys.modules["__main__"].__file__)
        return self.spawn([sys.executable, script, "--role", role] + list(worker_args), name)

    def cleanup(self):
        for proc in self.children:
            stop_process(proc, 2)
        self.children = []
        for b in self.brokers:
            if b.proc is not None and b.proc.poll() is not None:
                b.died = b.proc.returncode
            b.kill()


def _on_alarm(signum, frame):
    raise CompatError("time budget exceeded (SIGALRM)")


def default_binary(name):
    return os.path.join(REPO, "build", "bin", name)


def main(name, body, budget, roles=None, requires=()):
    """Runs one scenario (or, with --role, one of its worker roles) and exits 0 or 1.

    `budget` bounds the whole scenario in seconds; `requires` names Python modules the scenario
    imports, checked first so a missing Debian package reads as such."""
    p = argparse.ArgumentParser(description="compatibility scenario %s" % name)
    p.add_argument("--sluiced", default=default_binary("sluiced"))
    p.add_argument("--sluice", default=default_binary("sluice"))
    p.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    p.add_argument("--role", help="internal: run as a worker process of this scenario")
    args, rest = p.parse_known_args()
    if args.role:
        sys.exit(roles[args.role](rest))
    if rest:
        p.error("unknown arguments: %s" % " ".join(rest))
    label = "compat_" + name
    for module in requires:
        try:
            __import__(module)
        except ImportError as e:
            print("%s: FAIL: cannot import %s (%s) with %s; run under /usr/bin/python3 after "
                  "tools/dev.sh setup" % (label, module, e, sys.executable), flush=True)
            sys.exit(1)
    workdir = tempfile.mkdtemp(prefix="sluice-%s-" % label)
    sc = Scenario(name, args, workdir)
    start = time.monotonic()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(budget))
    failure = None
    try:
        body(sc)
    except CompatError as e:
        failure = str(e)
        if "time budget" in failure:
            failure = "did not finish within its %d s budget\n%s" % (
                budget, "".join(traceback.format_exc(limit=-3)))
    except Exception as e:  # a client's exception (or a crash) fails the scenario too
        failure = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-6))
    finally:
        signal.alarm(0)
        sc.cleanup()
    elapsed = time.monotonic() - start
    if failure is None:
        print("%s: PASS (%.1f s)" % (label, elapsed), flush=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        sys.exit(0)
    print("%s: FAIL after %.1f s in step '%s': %s" % (label, elapsed, sc.current_step, failure),
          flush=True)
    for b in sc.brokers:
        if b.died is not None:
            print("--- sluiced ended by itself during the scenario, exit status %d%s" % (
                b.died, " (signal %d)" % -b.died if b.died < 0 else ""), flush=True)
        print("--- tail of %s:\n%s" % (b.log_path, read_tail(b.log_path)), flush=True)
    print("--- work dir kept: %s" % workdir, flush=True)
    sys.exit(1)
