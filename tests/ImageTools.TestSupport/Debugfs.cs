using System.Globalization;
using System.Text.RegularExpressions;

namespace ImageTools.TestSupport;

/// <summary>
/// Runs debugfs (the e2fsprogs reference reader) over an image and parses what it prints: <c>ls -l</c>,
/// <c>stat</c> and <c>ea_list</c>. Many requests run in one debugfs process (<c>debugfs -f</c>), whose
/// output is split at the "debugfs: REQUEST" lines it echoes.
/// </summary>
public static partial class Debugfs
{
    /// <summary>Runs every request in one debugfs process; returns each request's output, in order.</summary>
    public static IReadOnlyList<(string Request, string Output)> RunScript(string image, IReadOnlyList<string> requests)
    {
        using var temp = new TempDirectory("imagetools-debugfs-");
        var script = temp.File("requests");
        File.WriteAllLines(script, requests);
        var r = ProcessRunner.Run(ExternalTools.Require("debugfs"), new[] { "-f", script, image }, timeout: TimeSpan.FromMinutes(5));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"debugfs -f on {image} failed: {r}");
        }
        var results = new List<(string, string)>();
        string? current = null;
        var buffer = new System.Text.StringBuilder();
        foreach (var line in r.StdOut.Split('\n'))
        {
            if (line.StartsWith("debugfs: ", StringComparison.Ordinal))
            {
                if (current != null)
                {
                    results.Add((current, buffer.ToString()));
                }
                current = line["debugfs: ".Length..];
                buffer.Clear();
                continue;
            }
            buffer.Append(line).Append('\n');
        }
        if (current != null)
        {
            results.Add((current, buffer.ToString()));
        }
        if (results.Count != requests.Count)
        {
            throw new InvalidOperationException($"debugfs answered {results.Count} of {requests.Count} requests:\n{r.StdErr}");
        }
        return results;
    }

    /// <summary>One line of <c>ls -l</c>.</summary>
    public sealed record ListEntry(uint Inode, int Mode, string Name);

    [GeneratedRegex(@"^\s*(\d+)\s+([0-7]+)\s+\((\d+)\)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s(.*)$")]
    private static partial Regex ListLine();

    /// <summary>Parses <c>ls -l</c>: every entry but "." and "..".</summary>
    public static IReadOnlyList<ListEntry> ParseList(string output)
    {
        var list = new List<ListEntry>();
        foreach (var line in output.Split('\n'))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            // Empty slots (inode 0, e.g. the spare blocks of lost+found) are listed without a name.
            if (line.TrimStart().StartsWith("0 ", StringComparison.Ordinal))
            {
                continue;
            }
            var m = ListLine().Match(line);
            if (!m.Success)
            {
                throw new FormatException($"unexpected debugfs ls -l line: '{line}'");
            }
            var name = Unescape(m.Groups[9].Value);
            if (name is "." or "..")
            {
                continue;
            }
            list.Add(new ListEntry(uint.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Convert.ToInt32(m.Groups[2].Value, 8), name));
        }
        return list;
    }

    /// <summary>debugfs prints bytes outside printable ASCII as \xNN; this restores the name (decoded as UTF-8).</summary>
    public static string Unescape(string printed)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < printed.Length; i++)
        {
            if (printed[i] == '\\' && i + 3 < printed.Length && printed[i + 1] == 'x'
                && byte.TryParse(printed.AsSpan(i + 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b))
            {
                bytes.Add(b);
                i += 3;
                continue;
            }
            bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(printed[i].ToString()));
        }
        return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>A time as <c>stat</c> prints it: the 32-bit base and, in large inodes, the extra word.</summary>
    public readonly record struct RawTime(uint Base, uint? Extra)
    {
        /// <summary>Seconds: the base as signed, plus the epoch bits of the extra word.</summary>
        public long Seconds => (int)Base + (Extra is uint e ? (long)(e & 3) << 32 : 0);

        public uint Nanoseconds => Extra is uint e ? e >> 2 : 0;
    }

    /// <summary>What <c>stat</c> says about an inode.</summary>
    public sealed record StatInfo(uint Inode, string Type, int Permissions, uint Flags, uint Uid, uint Gid, ulong Size, int Links,
        ulong BlockCount, RawTime Ctime, RawTime Atime, RawTime Mtime, RawTime? Crtime, (uint Major, uint Minor)? Device, string? FastLinkTarget);

    [GeneratedRegex(@"Inode:\s+(\d+)\s+Type:\s+(.+?)\s+Mode:\s+([0-7]+)\s+Flags:\s+0x([0-9a-f]+)")]
    private static partial Regex StatHead();

    [GeneratedRegex(@"User:\s+(\d+)\s+Group:\s+(\d+)\s+(?:Project:\s+\d+\s+)?Size:\s+(\d+)")]
    private static partial Regex StatOwner();

    [GeneratedRegex(@"Links:\s+(\d+)\s+Blockcount:\s+(\d+)")]
    private static partial Regex StatLinks();

    [GeneratedRegex(@"^\s*(ctime|atime|mtime|crtime):\s+0x([0-9a-f]+)(?::([0-9a-f]+))?", RegexOptions.Multiline)]
    private static partial Regex StatTime();

    [GeneratedRegex(@"Device major/minor number:\s+(\d+):(\d+)")]
    private static partial Regex StatDevice();

    [GeneratedRegex("Fast link dest: \"(.*)\"")]
    private static partial Regex StatFastLink();

    public static StatInfo ParseStat(string output)
    {
        var head = StatHead().Match(output);
        var owner = StatOwner().Match(output);
        var links = StatLinks().Match(output);
        if (!head.Success || !owner.Success || !links.Success)
        {
            throw new FormatException($"unexpected debugfs stat output:\n{output}");
        }
        var times = new Dictionary<string, RawTime>();
        foreach (Match m in StatTime().Matches(output))
        {
            times[m.Groups[1].Value] = new RawTime(
                uint.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                m.Groups[3].Success ? uint.Parse(m.Groups[3].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null);
        }
        var device = StatDevice().Match(output);
        var fast = StatFastLink().Match(output);
        return new StatInfo(
            uint.Parse(head.Groups[1].Value, CultureInfo.InvariantCulture),
            head.Groups[2].Value,
            Convert.ToInt32(head.Groups[3].Value, 8),
            uint.Parse(head.Groups[4].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            uint.Parse(owner.Groups[1].Value, CultureInfo.InvariantCulture),
            uint.Parse(owner.Groups[2].Value, CultureInfo.InvariantCulture),
            ulong.Parse(owner.Groups[3].Value, CultureInfo.InvariantCulture),
            int.Parse(links.Groups[1].Value, CultureInfo.InvariantCulture),
            ulong.Parse(links.Groups[2].Value, CultureInfo.InvariantCulture),
            times["ctime"], times["atime"], times["mtime"],
            times.TryGetValue("crtime", out var cr) ? cr : null,
            device.Success ? (uint.Parse(device.Groups[1].Value, CultureInfo.InvariantCulture), uint.Parse(device.Groups[2].Value, CultureInfo.InvariantCulture)) : null,
            fast.Success ? fast.Groups[1].Value : null);
    }

    [GeneratedRegex(@"^\s+(\S+) \((\d+)\)", RegexOptions.Multiline)]
    private static partial Regex EaLine();

    /// <summary>Parses <c>ea_list</c>: each attribute's full name and stored value size.</summary>
    public static IReadOnlyList<(string Name, int Size)> ParseEaList(string output)
    {
        var list = new List<(string, int)>();
        foreach (Match m in EaLine().Matches(output))
        {
            list.Add((m.Groups[1].Value, int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)));
        }
        return list;
    }
}
