using System.Globalization;
using System.Text.RegularExpressions;

namespace ImageTools.TestSupport;

/// <summary>Runs <c>dumpe2fs -h</c> (in UTC) and returns its "Name: value" lines.</summary>
public static partial class Dumpe2fs
{
    /// <param name="image">The image file.</param>
    /// <param name="offset">Byte offset of the filesystem in it (a partition of a disk image).</param>
    public static Dictionary<string, string> Header(string image, long offset = 0)
    {
        var target = offset == 0 ? image : $"{image}?offset={offset}";
        var r = ProcessRunner.Run(ExternalTools.Require("dumpe2fs"), new[] { "-h", target }, environment: new Dictionary<string, string?> { ["TZ"] = "UTC" });
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"dumpe2fs -h {target} failed: {r}");
        }
        var facts = new Dictionary<string, string>();
        foreach (var line in r.StdOut.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0)
            {
                facts.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
            }
        }
        return facts;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    /// <summary>A time as dumpe2fs prints it (ctime(3) format, in UTC): "Thu Nov 26 00:45:21 2026".</summary>
    public static DateTimeOffset ParseTime(string text) =>
        new(DateTime.ParseExact(Spaces().Replace(text, " "), "ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture), TimeSpan.Zero);
}
