using System.CommandLine;
using ImageTools.Core;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.FsMaker.Commands;

/// <summary>What inspect, extract and export share: the options that govern reading, and error reporting.</summary>
internal static class ImageReadingSupport
{
    public static Option<bool> KeepGoingOption() => new("--keep-going", "-k")
    {
        Description = "Skip damaged files and directories (each is reported) instead of stopping at the first; the exit code is still 4 if anything was skipped",
    };

    public static Option<bool> StaleJournalOption() => new("--ignore-journal")
    {
        Description = "Read a filesystem whose journal needs recovery as it is on disk, without replaying the journal (changes still in the journal are missing)",
    };

    public static Option<bool> NoChecksumsOption() => new("--no-verify-checksums")
    {
        Description = "Read metadata even where its metadata_csum checksum does not match (damaged structures may then be read as they are)",
    };

    public static ExtOpenOptions OpenOptions(ParseResult parse, Option<bool> staleJournal, Option<bool> noChecksums) => new()
    {
        AllowStaleJournal = parse.GetValue(staleJournal),
        VerifyChecksums = !parse.GetValue(noChecksums),
    };

    /// <summary>Runs an action, turning expected failures into "fsmaker: message" on stderr and their documented exit code.</summary>
    public static int Guarded(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (ImageToolsException e)
        {
            Console.Error.WriteLine($"fsmaker: {e.Message}");
            return ExitCodes.For(e.Kind);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("fsmaker: interrupted");
            return ExitCodes.Cancelled;
        }
    }

    public static void Warn(string message) => Console.Error.WriteLine($"fsmaker: warning: {message}");

    public static void Note(string message) => Console.Error.WriteLine($"fsmaker: note: {message}");

    public static void Problem(ExtProblem problem) => Console.Error.WriteLine($"fsmaker: skipped {problem.Path}: {problem.Error.Message}");
}
