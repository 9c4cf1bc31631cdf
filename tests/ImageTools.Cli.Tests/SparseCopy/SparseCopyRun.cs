using System.Text.Json;
using FluentAssertions;
using ImageTools.TestSupport;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>Runs sparsecopy and reads its summary (the v0.10 final line, or --json).</summary>
internal static class SparseCopyRun
{
    public static ProcessResult Run(params string[] args) => TestSupport.Cli.Run("sparsecopy", args);

    public static ProcessResult RunWithStdin(Stream stdin, params string[] args) => TestSupport.Cli.Run("sparsecopy", args, stdin);

    /// <summary>Runs with --json added and returns the parsed summary; the run must succeed.</summary>
    public static JsonElement Json(params string[] args)
    {
        var r = Run(["--json", .. args]);
        r.ExitCode.Should().Be(0, r.ToString());
        return JsonDocument.Parse(r.StdOut).RootElement.Clone();
    }

    /// <summary>The counters of v0.10's final line: total, real, sparse, nonzerodest.</summary>
    public static (long Total, long Real, long Sparse, long NonZeroDest) FinalLine(ProcessResult r)
    {
        var line = r.StdErr.TrimEnd().Split('\n')[^1];
        var m = System.Text.RegularExpressions.Regex.Match(line,
            @"^sparsecopy: total bytes = (\d+) \(real = (\d+), sparse = (\d+)\), nonzerodest = (\d+)$");
        m.Success.Should().BeTrue($"the last stderr line should be v0.10's final line, was: {line}");
        return (long.Parse(m.Groups[1].Value), long.Parse(m.Groups[2].Value), long.Parse(m.Groups[3].Value), long.Parse(m.Groups[4].Value));
    }

    /// <summary>Files left in a folder other than those expected (temporary files of failed copies).</summary>
    public static string[] Leftovers(string folder, params string[] expected) =>
        Directory.GetFiles(folder).Select(Path.GetFileName).Where(n => !expected.Contains(n)).ToArray()!;

    /// <summary>What <c>cp --sparse=always</c> allocates for the same input (the bar to meet).</summary>
    public static long CpSparseAllocated(TempDirectory dir, string source)
    {
        var reference = dir.File("cp-reference-" + Path.GetFileName(source));
        var r = ProcessRunner.Run("cp", "--sparse=always", source, reference);
        r.ExitCode.Should().Be(0, r.ToString());
        var allocated = FileFacts.AllocatedBytes(reference);
        File.Delete(reference);
        return allocated;
    }
}
