using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using ImageTools.TestSupport;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>
/// A QEMU guest whose serial port the test can type at: QEMU serves COM1 on a Unix socket, the test reads
/// everything the guest prints (kept in <see cref="Log"/>) and writes keystrokes. Used to log in at the very
/// first login prompt a real distribution offers. QEMU runs under timeout(1) and is killed on dispose.
/// </summary>
public sealed class SerialConsole : IDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _work = new("imagetools-console-");
    private readonly Socket _socket;
    private readonly StringBuilder _log = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public SerialConsole(string disk, IReadOnlyList<string> extraArguments, TimeSpan bound)
    {
        var qemu = ExternalTools.Require(QemuBoot.Emulator);
        var socketPath = _work.File("serial.sock");
        var psi = new ProcessStartInfo { FileName = ExternalTools.Require("timeout"), UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--kill-after=10", ((int)bound.TotalSeconds).ToString(CultureInfo.InvariantCulture), qemu,
                     "-accel", "tcg", "-machine", "pc", "-m", "1024", "-smp", "1", "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
                     "-chardev", $"socket,id=console,path={socketPath},server=on,wait=on", "-serial", "chardev:console",
                     "-drive", $"file={disk.Replace(",", ",,", StringComparison.Ordinal)},format=raw,if=virtio,snapshot=off" })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var a in extraArguments)
        {
            psi.ArgumentList.Add(a);
        }
        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + qemu);
        _ = _process.StandardOutput.ReadToEndAsync();
        _ = _process.StandardError.ReadToEndAsync();
        _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        for (var i = 0; ; i++)
        {
            try
            {
                _socket.Connect(new UnixDomainSocketEndPoint(socketPath));
                break;
            }
            catch (SocketException) when (i < 100 && !_process.HasExited)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Everything the guest printed so far (escape sequences and CRs removed).</summary>
    public string Log => SerialLog.Clean(Encoding.UTF8.GetBytes(_log.ToString()));

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Reads until the log (from <paramref name="from"/> on) contains one of <paramref name="texts"/>; returns which, or null at the deadline.</summary>
    public string? WaitFor(TimeSpan timeout, int from, params string[] texts)
    {
        var deadline = DateTime.UtcNow + timeout;
        var buffer = new byte[8192];
        while (DateTime.UtcNow < deadline)
        {
            var log = Log;
            var hit = texts.FirstOrDefault(t => log.IndexOf(t, Math.Min(from, log.Length), StringComparison.Ordinal) >= 0);
            if (hit != null)
            {
                return hit;
            }
            if (_socket.Poll(200_000, SelectMode.SelectRead))
            {
                var n = _socket.Receive(buffer);
                if (n == 0)
                {
                    return null;
                }
                _log.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
        }
        return null;
    }

    public void Type(string text) => _socket.Send(Encoding.UTF8.GetBytes(text));

    public void Dispose()
    {
        _socket.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.WaitForExit(TimeSpan.FromSeconds(20));
        _process.Dispose();
        Xunit.TestContext.Current.TestOutputHelper?.WriteLine(Log);
        _work.Dispose();
    }
}
