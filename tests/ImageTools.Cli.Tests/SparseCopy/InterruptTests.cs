using System.Diagnostics;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>Ctrl-C (SIGINT) during a copy: exit 130 and no temporary file left behind.</summary>
[Trait("Category", "AotSmoke")]
public sealed class InterruptTests : IDisposable
{
    private readonly TempDirectory _dir = new("sparsecopy-interrupt-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SigintDuringALargeCopy_Exits130_RemovesTheTemporaryFile()
    {
        // A terabyte of /dev/zero: long enough to be interrupted, cheap because zeros become holes.
        using var process = Start(["-m", "1T", "/dev/zero", _dir.File("out.img")], redirectStdin: false);
        try
        {
            WaitForTemporaryFile();
            SendSigint(process);
            process.WaitForExit(TimeSpan.FromSeconds(60)).Should().BeTrue("sparsecopy should stop after SIGINT");
            process.ExitCode.Should().Be(130, process.StandardError.ReadToEnd());
            Directory.GetFileSystemEntries(_dir.Path).Should().BeEmpty("neither DEST nor its temporary may remain");
        }
        finally
        {
            KillIfRunning(process);
        }
    }

    [Fact]
    public void SigintWhileWaitingOnASilentPipe_Exits130_RemovesTheTemporaryFile()
    {
        using var process = Start(["-", _dir.File("out.img")], redirectStdin: true);
        try
        {
            process.StandardInput.BaseStream.Write(SparseFiles.RandomBytes(new Random(1), 3 << 20));
            process.StandardInput.BaseStream.Flush();
            WaitForTemporaryFile();
            SendSigint(process); // stdin stays open and silent: the read cannot end by itself
            process.WaitForExit(TimeSpan.FromSeconds(60)).Should().BeTrue("sparsecopy should stop after SIGINT");
            process.ExitCode.Should().Be(130);
            Directory.GetFileSystemEntries(_dir.Path).Should().BeEmpty();
        }
        finally
        {
            KillIfRunning(process);
        }
    }

    private static Process Start(string[] args, bool redirectStdin)
    {
        var psi = new ProcessStartInfo(TestSupport.Cli.PathOf("sparsecopy"))
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = redirectStdin,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return Process.Start(psi)!;
    }

    private void WaitForTemporaryFile()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (Directory.GetFiles(_dir.Path, ".out.img.sparsecopy-*.tmp").Length == 0)
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the copy should have created its temporary file");
            Thread.Sleep(50);
        }
        Thread.Sleep(200); // well into the copy loop
    }

    private static void SendSigint(Process process) =>
        ProcessRunner.Shell($"kill -INT {process.Id}").ExitCode.Should().Be(0); // bash's built-in kill

    private static void KillIfRunning(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
        }
    }
}
