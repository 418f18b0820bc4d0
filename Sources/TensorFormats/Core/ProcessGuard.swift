#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CConnkit

/// What the process's signal handlers know (`Sources/CConnkit/guard.c`): the mapped inputs and the
/// temporary outputs being written. `MappedFile` and `OutputFile` register themselves; a program calls
/// `install()` once (the CLI does, first thing).
///
/// Once installed:
/// - a SIGBUS inside a mapped input (another process truncated it while connkit read it) removes every
///   temporary output, prints `connkit: IN: changed while being read …` (and, with `jsonErrors`, the
///   `{"error", "code": "io"}` object on stdout) and exits with status 2;
/// - any other crash signal removes the temporary outputs and is handed on to the handler installed
///   before (Swift's backtracer, AddressSanitizer, libFuzzer) or the default action;
/// - SIGINT, SIGTERM and SIGHUP remove them and end the process as they would have;
/// - SIGXFSZ is ignored: a write beyond `ulimit -f` fails with "File too large" and the output is
///   abandoned cleanly.
public enum ProcessGuard {
    /// Installs the handlers (once; later calls do nothing).
    public static func install() {
        ck_guard_install()
    }

    /// Whether the SIGBUS report also prints the `--json` error object on stdout.
    public static func setJSONErrors(_ on: Bool) {
        ck_guard_set_json(on ? 1 : 0)
    }

    /// Removes every registered temporary output now.
    public static func removeTemporaryFiles() {
        ck_guard_remove_temps()
    }

    static func registerMapping(_ base: UnsafeRawPointer, count: Int, path: String) -> Int32 {
        ck_guard_register_mapping(base, count, path)
    }

    static func unregisterMapping(_ slot: Int32) {
        ck_guard_unregister_mapping(slot)
    }

    static func registerTemporary(_ path: String) -> Int32 {
        ck_guard_register_temp(path)
    }

    static func unregisterTemporary(_ slot: Int32) {
        ck_guard_unregister_temp(slot)
    }
}

/// A test-only pause, to make "another process changes the input while connkit reads it" and "connkit is
/// killed while writing" deterministic in tests: when the environment variable `CONNKIT_TEST_HOLD` names
/// a file, connkit creates that file at each hold point (after creating its temporary output, before
/// writing any tensor; before the value scan of `validate`) and waits until the test removes it (at most
/// 60 s). Unset, a hold point costs one cached environment lookup.
public enum TestHold {
    private static let path: String? = getenv("CONNKIT_TEST_HOLD").map { String(cString: $0) }

    public static func point() {
        guard let path else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        close(fd)
        var waited = 0
        while access(path, F_OK) == 0, waited < 6000 {
            usleep(10_000)
            waited += 1
        }
    }
}
