using Xunit;

namespace ImageTools.TestSupport;

/// <summary>
/// The reference tools the tests check our output with (e2fsck, debugfs, sfdisk, bmaptool, qemu...).
/// scripts/install-test-deps.sh installs all of them; on a machine without them a test is skipped
/// with the reason stated, never passed silently.
/// </summary>
public static class ExternalTools
{
    private static readonly string[] SearchPath =
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Concat(new[] { "/usr/sbin", "/sbin", "/usr/local/sbin" })
        .ToArray();

    /// <summary>The full path of a program on PATH (or the sbin folders), or null.</summary>
    public static string? Find(string program)
    {
        if (program.Contains('/'))
        {
            return File.Exists(program) ? program : null;
        }
        foreach (var dir in SearchPath)
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>The program's path; skips the calling test, saying why, when it is not installed.</summary>
    public static string Require(string program)
    {
        var path = Find(program);
        if (path == null)
        {
            Assert.Skip($"'{program}' is not installed; run scripts/install-test-deps.sh (CI does) to run this test");
        }
        return path!;
    }

    /// <summary>Skips the calling test unless it runs as root (losetup, mount namespaces...).</summary>
    public static void RequireRoot(string why)
    {
        if (Environment.UserName != "root")
        {
            Assert.Skip($"needs root: {why}");
        }
    }

    /// <summary>Runs a reference tool that must exist; skips when it does not.</summary>
    public static ProcessResult Run(string program, params string[] arguments) =>
        ProcessRunner.Run(Require(program), arguments);
}
