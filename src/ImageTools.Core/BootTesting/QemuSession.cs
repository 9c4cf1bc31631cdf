using System.Diagnostics;
using System.Text;

namespace ImageTools.Core.BootTesting;

/// <summary>How one QEMU run ended: the verdict, the whole console (cleaned), and QEMU's own output.</summary>
public sealed record QemuRunResult(BootVerdict Verdict, string Console, TimeSpan Elapsed, int? QemuExitCode, string QemuOutput);

/// <summary>
/// Runs one QEMU command line and watches its console log until a judge decides, QEMU ends, the time is up or
/// the caller cancels; QEMU is always killed before this returns.
/// </summary>
public static class QemuSession
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Runs <paramref name="invocation"/>. <paramref name="judge"/> sees the cleaned console so far and returns a
    /// verdict once there is one. After a failure verdict the console is read for <paramref name="afterFailure"/>
    /// more (default 2 s), so the report shows what the guest printed after it (a panic's trace).
    /// </summary>
    public static QemuRunResult Run(QemuInvocation invocation, Func<string, BootVerdict?> judge, TimeSpan timeout,
        CancellationToken cancellationToken = default, TimeSpan? afterFailure = null)
    {
        var linger = afterFailure ?? TimeSpan.FromSeconds(2);
        var psi = new ProcessStartInfo(invocation.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in invocation.Arguments)
        {
            psi.ArgumentList.Add(a);
        }
        var output = new StringBuilder();
        var stopwatch = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new ImageToolsException(ErrorKind.MissingResource, $"cannot start {invocation.Executable}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ImageToolsException(ErrorKind.MissingResource, $"cannot start {invocation.Executable}: {e.Message}");
        }
        using (process)
        {
            process.OutputDataReceived += (_, e) => Append(output, e.Data);
            process.ErrorDataReceived += (_, e) => Append(output, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.StandardInput.Close();

            BootVerdict? verdict = null;
            var clean = "";
            try
            {
                using var log = new FileStream(invocation.ConsoleLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var reader = new ConsoleLogReader(log);
                DateTime? failedAt = null;
                while (true)
                {
                    var exited = process.HasExited;
                    clean = reader.ReadMore();
                    var judged = judge(clean);
                    if (judged?.Kind == BootVerdictKind.Passed)
                    {
                        verdict = judged;
                        break;
                    }
                    if (judged != null)
                    {
                        verdict ??= judged;
                        failedAt ??= DateTime.UtcNow;
                        if (exited || DateTime.UtcNow - failedAt > linger)
                        {
                            break;
                        }
                    }
                    else if (exited)
                    {
                        process.WaitForExit();
                        var said = LastOutputLine(output);
                        verdict = new BootVerdict(BootVerdictKind.QemuExited,
                            process.ExitCode == 0
                                ? "QEMU ended before the expected text: the guest powered off or rebooted"
                                : $"QEMU failed (exit code {process.ExitCode}){(said != null ? ": " + said : "")}",
                            said);
                        break;
                    }
                    if (stopwatch.Elapsed > timeout)
                    {
                        verdict = new BootVerdict(BootVerdictKind.TimedOut, $"the expected text did not appear within {timeout.TotalSeconds:0} s", null);
                        break;
                    }
                    if (cancellationToken.WaitHandle.WaitOne(PollInterval))
                    {
                        throw new OperationCanceledException(cancellationToken);
                    }
                }
            }
            finally
            {
                Stop(process);
            }
            stopwatch.Stop();
            string qemuOutput;
            lock (output)
            {
                qemuOutput = output.ToString().Trim();
            }
            return new QemuRunResult(verdict!, clean, stopwatch.Elapsed, process.HasExited ? process.ExitCode : null, qemuOutput);
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line == null)
        {
            return;
        }
        lock (output)
        {
            // QEMU says little; a runaway guest cannot fill memory through it.
            if (output.Length < 64 * 1024)
            {
                output.Append(line).Append('\n');
            }
        }
    }

    private static string? LastOutputLine(StringBuilder output)
    {
        lock (output)
        {
            var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return lines.Length > 0 ? lines[^1] : null;
        }
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        process.WaitForExit(TimeSpan.FromSeconds(20));
    }

    /// <summary>
    /// Reads a growing console log and keeps its cleaned text. Complete lines are cleaned once; the unfinished last
    /// line is cleaned again as it grows (an escape sequence may be split across reads, but not across lines).
    /// The text kept is bounded: past <see cref="MaximumText"/> characters the oldest complete lines are dropped.
    /// </summary>
    private sealed class ConsoleLogReader(Stream log)
    {
        private const int MaximumText = 16 << 20;
        private readonly StringBuilder _complete = new();
        private readonly MemoryStream _pending = new();
        private readonly byte[] _buffer = new byte[64 * 1024];

        public string ReadMore()
        {
            int n;
            while ((n = log.Read(_buffer)) > 0)
            {
                _pending.Write(_buffer, 0, n);
            }
            var pending = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
            var lastNewline = pending.LastIndexOf((byte)'\n');
            if (lastNewline >= 0)
            {
                _complete.Append(ConsoleText.Clean(pending[..(lastNewline + 1)]));
                var rest = pending[(lastNewline + 1)..].ToArray();
                _pending.SetLength(0);
                _pending.Write(rest);
                if (_complete.Length > MaximumText)
                {
                    _complete.Remove(0, _complete.Length - (MaximumText / 2));
                }
            }
            return _complete.ToString() + ConsoleText.Clean(_pending.GetBuffer().AsSpan(0, (int)_pending.Length));
        }
    }
}
