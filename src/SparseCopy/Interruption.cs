using System.Runtime.InteropServices;
using ImageTools.Core.Sparse;

namespace ImageTools.SparseCopy;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM: cancel the copy so that it stops at the next buffer and removes a new DEST's
/// temporary file, then exit 130 (143 for SIGTERM). If the copy is stuck in a blocking read (a silent pipe),
/// a watchdog removes the temporary file itself and exits after a grace period.
/// </summary>
public sealed class Interruption : IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    private readonly CancellationTokenSource _cts = new();
    private readonly List<PosixSignalRegistration> _registrations = new();
    private volatile CopyTarget? _target;
    private int _exitClaimed;

    public Interruption()
    {
        // SIGINT is Ctrl-C on Windows too; SIGTERM is mapped where the OS has something like it.
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
    }

    public CancellationToken Token => _cts.Token;

    /// <summary>The exit code for the signal received (130 for SIGINT, 143 for SIGTERM).</summary>
    public int ExitCode { get; private set; } = ExitCodes.Interrupted;

    /// <summary>Remembers DEST so the watchdog can remove its temporary file.</summary>
    public void Watch(CopyTarget target) => _target = target;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // we exit ourselves, after cleaning up
        ExitCode = context.Signal == PosixSignal.SIGTERM ? 143 : ExitCodes.Interrupted;
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
            _target?.Abort();
            Console.Error.WriteLine("sparsecopy: interrupted");
            Environment.Exit(ExitCode);
        })
        {
            IsBackground = true,
            Name = "sparsecopy interrupt watchdog",
        };
        watchdog.Start();
    }

    /// <summary>
    /// Decides who ends the process: the main thread returning from Main, or the watchdog. Only the first
    /// caller gets true, so the two never run the runtime's shutdown at the same time.
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
