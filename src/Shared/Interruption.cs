using System.Runtime.InteropServices;

namespace ImageTools.CommandLineSupport;

/// <summary>
/// Ctrl-C (SIGINT), SIGTERM and SIGHUP for our command-line programs (this file is compiled into each of them): the
/// work is cancelled so that it stops at its next buffer and removes its temporary output, and the program
/// exits 130 (143 for SIGTERM, 129 for SIGHUP). Work stuck in a blocking read (a pipe that went silent) cannot see the
/// cancellation, so after a grace period a watchdog runs the cleanup registered with
/// <see cref="OnForcedExit"/> and ends the process itself.
/// <para>
/// Exactly one of the main thread (returning from Main) and the watchdog ends the process (see
/// <see cref="ClaimExit"/>): both running the runtime's shutdown at once can deadlock it.
/// </para>
/// </summary>
public sealed class Interruption : IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    private readonly string _program;
    private readonly CancellationTokenSource _cts = new();
    private readonly List<PosixSignalRegistration> _registrations = new();
    private volatile Action? _cleanup;
    private int _exitClaimed;

    /// <param name="program">Names the program in the message the watchdog prints, e.g. "sparsecopy".</param>
    public Interruption(string program)
    {
        _program = program;
        // SIGINT is Ctrl-C on Windows too; SIGTERM is mapped where the OS has something like it.
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
        // SIGHUP: the terminal or the ssh session went away; the work is abandoned and cleaned up the same way.
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal));
    }

    /// <summary>Cancelled on the first SIGINT, SIGTERM or SIGHUP.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>The exit code for the signal received (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).</summary>
    public int ExitCode { get; private set; } = 130;

    /// <summary>What the watchdog does before ending the process, e.g. remove a temporary output file.</summary>
    public void OnForcedExit(Action cleanup) => _cleanup = cleanup;

    /// <summary>Runs the cleanup registered with <see cref="OnForcedExit"/> (the last-resort handler ends the process too).</summary>
    public void RunCleanup() => _cleanup?.Invoke();

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // we exit ourselves, after cleaning up
        ExitCode = context.Signal switch
        {
            PosixSignal.SIGTERM => 143,
            PosixSignal.SIGHUP => 129,
            _ => 130,
        };
        if (_cts.IsCancellationRequested)
        {
            return;
        }
        _cts.Cancel();
        var watchdog = new Thread(() =>
        {
            Thread.Sleep(Grace);
            if (!ClaimExit())
            {
                return; // the main thread is already on its way out
            }
            _cleanup?.Invoke();
            Console.Error.WriteLine($"{_program}: interrupted");
            Environment.Exit(ExitCode);
        })
        {
            IsBackground = true,
            Name = $"{_program} interrupt watchdog",
        };
        watchdog.Start();
    }

    /// <summary>
    /// Decides who ends the process: the main thread returning from Main, or the watchdog. Only the first
    /// caller gets true; Main, on false, waits for the watchdog's exit instead of returning.
    /// </summary>
    public bool ClaimExit() => Interlocked.Exchange(ref _exitClaimed, 1) == 0;

    public void Dispose()
    {
        foreach (var r in _registrations)
        {
            r.Dispose();
        }
        _cts.Dispose();
    }
}
