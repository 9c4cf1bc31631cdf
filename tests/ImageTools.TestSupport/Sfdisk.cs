using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ImageTools.TestSupport;

/// <summary>One partition as <c>sfdisk -J</c> reports it.</summary>
public sealed record SfdiskPartition(int Number, long Start, long Size, string Type, bool Bootable, string? Uuid, string? Name);

/// <summary>A partition table as <c>sfdisk -J</c> reports it: the judge our partition code is compared with.</summary>
public sealed record SfdiskTable(string Label, string Id, IReadOnlyList<SfdiskPartition> Partitions, long? FirstLba, long? LastLba);

/// <summary>
/// Runs sfdisk (util-linux) on image files: makes tables from scripts, and reads them back as JSON, as a dump,
/// or as the warnings of <c>--verify</c>. Skips the calling test when sfdisk is not installed.
/// </summary>
public static class Sfdisk
{
    /// <summary>Writes the table a sfdisk script describes to <paramref name="image"/>; throws with sfdisk's output if it refuses.</summary>
    public static void Apply(string image, string script)
    {
        var sfdisk = ExternalTools.Require("sfdisk");
        using var input = new MemoryStream(Encoding.UTF8.GetBytes(script));
        var r = ProcessRunner.Run(sfdisk, new[] { "--no-reread", "--no-tell-kernel", "-q", image }, input);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"sfdisk refused the script:\n{script}\n{r}");
        }
    }

    /// <summary><c>sfdisk -J</c>, parsed. Partition numbers come from the device node names (image path + number).</summary>
    public static SfdiskTable Json(string image)
    {
        var r = ExternalTools.Run("sfdisk", "-J", image);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"sfdisk -J {image} failed:\n{r}");
        }
        // sfdisk may print notes such as "omitting empty partition (6)" on stdout before the JSON.
        using var doc = JsonDocument.Parse(r.StdOut[r.StdOut.IndexOf('{')..]);
        var table = doc.RootElement.GetProperty("partitiontable");
        var partitions = new List<SfdiskPartition>();
        if (table.TryGetProperty("partitions", out var list))
        {
            foreach (var p in list.EnumerateArray())
            {
                var node = p.GetProperty("node").GetString()!;
                partitions.Add(new SfdiskPartition(
                    // "disk.img2", or "/dev/loop0p2" for a device whose name ends in a digit.
                    int.Parse(node[image.Length..].TrimStart('p'), CultureInfo.InvariantCulture),
                    p.GetProperty("start").GetInt64(),
                    p.GetProperty("size").GetInt64(),
                    p.GetProperty("type").GetString()!,
                    p.TryGetProperty("bootable", out var boot) && boot.GetBoolean(),
                    p.TryGetProperty("uuid", out var uuid) ? uuid.GetString() : null,
                    p.TryGetProperty("name", out var name) ? name.GetString() : null));
            }
        }
        return new SfdiskTable(
            table.GetProperty("label").GetString()!,
            table.GetProperty("id").GetString()!,
            partitions,
            table.TryGetProperty("firstlba", out var first) ? first.GetInt64() : null,
            table.TryGetProperty("lastlba", out var last) ? last.GetInt64() : null);
    }

    /// <summary><c>sfdisk --dump</c> with the device lines made independent of the image's path ("p1 : start=...").</summary>
    public static string Dump(string image)
    {
        var r = ExternalTools.Run("sfdisk", "--dump", image);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"sfdisk --dump {image} failed:\n{r}");
        }
        var lines = r.StdOut.Split('\n')
            .Where(l => !l.StartsWith("device:", StringComparison.Ordinal))
            .Select(l => l.StartsWith(image, StringComparison.Ordinal) ? "p" + l[image.Length..] : l);
        return string.Join('\n', lines);
    }

    /// <summary>
    /// <c>sfdisk -l</c> (with <c>-o COLUMNS</c> when given), parsed: the header lines ("Disk ...", "Units: ...",
    /// "Disklabel type: ...", "Disk identifier: ...") and one row per partition, cut at the column positions of
    /// the table's header line (sfdisk left-aligns text columns and right-aligns numbers under their headers).
    /// </summary>
    public static SfdiskListing List(string imageOrDevice, string? columns = null)
    {
        var args = columns == null ? new[] { "-l", imageOrDevice } : new[] { "-l", "-o", columns, imageOrDevice };
        var r = ExternalTools.Run("sfdisk", args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"sfdisk -l {imageOrDevice} failed:\n{r}");
        }
        return SfdiskListing.Parse(r.StdOut);
    }

    /// <summary><c>sfdisk --verify</c>: its exit code and what it printed (warnings go to stderr).</summary>
    public static ProcessResult Verify(string image) => ExternalTools.Run("sfdisk", "--verify", image);
}

/// <summary>
/// A partition listing in <c>sfdisk -l</c>'s layout (sfdisk's own, or sparsecopy's <c>--list</c>), parsed into the
/// header lines and the table's cells by column name.
/// </summary>
public sealed record SfdiskListing(IReadOnlyList<string> HeaderLines, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyDictionary<string, string>> Rows,
    IReadOnlyList<string> TrailingLines)
{
    /// <summary>The header line that starts with <paramref name="prefix"/> (e.g. "Disklabel type:"), or null.</summary>
    public string? Header(string prefix) => HeaderLines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));

    public static SfdiskListing Parse(string text)
    {
        var lines = text.Replace("\r", "").Split('\n');
        var tableAt = Array.FindIndex(lines, l => l.StartsWith("Device ", StringComparison.Ordinal));
        var header = (tableAt < 0 ? lines : lines[..tableAt]).Where(l => l.Length > 0).ToList();
        if (tableAt < 0)
        {
            return new SfdiskListing(header, Array.Empty<string>(), Array.Empty<IReadOnlyDictionary<string, string>>(), Array.Empty<string>());
        }

        // Columns from the header line: numbers (and the MBR type id) are right-aligned, so a value ends where
        // its header word ends; text is left-aligned, so a value starts where its header word starts and may hold
        // spaces ("Linux swap / Solaris"), running on until the next column's value.
        var headerLine = lines[tableAt];
        var columns = Words(headerLine).Select(w => (Name: headerLine[w.Start..w.End], w.Start, w.End)).ToList();
        var rows = new List<IReadOnlyDictionary<string, string>>();
        var end = tableAt + 1;
        for (; end < lines.Length && lines[end].Length > 0; end++)
        {
            var line = lines[end];
            var row = columns.ToDictionary(c => c.Name, _ => "");
            (string Name, int Start)? open = null;
            foreach (var (start, stop) in Words(line))
            {
                var right = columns.FirstOrDefault(c => IsRightAligned(c.Name) && c.End == stop);
                var left = columns.FirstOrDefault(c => !IsRightAligned(c.Name) && c.Start == start);
                if (right.Name != null)
                {
                    row[right.Name] = line[start..stop];
                    open = null;
                }
                else if (left.Name != null)
                {
                    row[left.Name] = line[start..stop];
                    open = (left.Name, start);
                }
                else if (open is { } cell)
                {
                    row[cell.Name] = line[cell.Start..stop];
                }
                else
                {
                    throw new FormatException($"cannot place '{line[start..stop]}' at column {start} of: {line}");
                }
            }
            rows.Add(row);
        }
        var trailing = lines[end..].Where(l => l.Length > 0).ToList();
        return new SfdiskListing(header, columns.Select(c => c.Name).ToList(), rows, trailing);
    }

    private static bool IsRightAligned(string column) => column is "Start" or "End" or "Sectors" or "Size" or "Id";

    private static IEnumerable<(int Start, int End)> Words(string line)
    {
        for (var i = 0; i < line.Length;)
        {
            if (line[i] == ' ')
            {
                i++;
                continue;
            }
            var start = i;
            while (i < line.Length && line[i] != ' ')
            {
                i++;
            }
            yield return (start, i);
        }
    }
}
