using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ImageTools.TestSupport;

/// <summary>One inode as <c>debugfs -R 'stat PATH'</c> prints it.</summary>
public sealed record DebugfsInode(
    uint Inode,
    string Type,
    int Mode,
    uint Uid,
    uint Gid,
    ulong Size,
    int Links,
    long BlockCount,
    string Flags,
    (long Seconds, uint Nanoseconds) Mtime,
    (long Seconds, uint Nanoseconds) Atime,
    (long Seconds, uint Nanoseconds) Ctime,
    (uint Major, uint Minor)? Device,
    string? FastLinkTarget,
    string Raw);

/// <summary>
/// Checks of ext images with the real e2fsprogs: <c>e2fsck -fn</c> (clean, no messages), the
/// <c>e2fsck -fy</c> fixpoint, and <c>debugfs</c> views of inodes, xattrs and contents.
/// </summary>
public static partial class ExtImageChecks
{
    /// <summary>The lines e2fsck prints on a clean filesystem; anything else is a problem report.</summary>
    private static readonly Regex CleanLine = new(
        @"^(e2fsck \d|Pass [1-5]|Pass 3A|[^:]+: \d+/\d+ files \(|$)", RegexOptions.Compiled);

    /// <summary>Runs <c>e2fsck -fn</c>; returns the exit code and every line that is not part of a clean run.</summary>
    public static (int ExitCode, IReadOnlyList<string> Problems, string Output) Fsck(string image)
    {
        var r = ExternalTools.Run("e2fsck", "-fn", image);
        var output = r.StdOut + r.StdErr;
        var problems = output.Split('\n').Select(l => l.TrimEnd()).Where(l => !CleanLine.IsMatch(l)).ToList();
        return (r.ExitCode, problems, output);
    }

    /// <summary>
    /// Runs <c>e2fsck -fy</c> on a sparse copy and returns the byte offsets that changed. On a clean
    /// image only s_wtime (0x430..0x433) and s_lastcheck (0x440..0x443) of the primary superblock do.
    /// </summary>
    public static (int ExitCode, IReadOnlyList<long> ChangedOffsets, string Output) FsckFixpoint(string image)
    {
        var copy = image + ".fixpoint";
        try
        {
            var cp = ProcessRunner.Run("cp", "--sparse=always", image, copy);
            if (cp.ExitCode != 0)
            {
                throw new IOException(cp.ToString());
            }
            var r = ExternalTools.Run("e2fsck", "-fy", copy);
            var changed = SparseFiles.Differences(image, copy);
            return (r.ExitCode, changed, r.StdOut + r.StdErr);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>
    /// The offsets e2fsck -fy may change on a clean image: s_wtime and s_lastcheck, and with
    /// metadata_csum the superblock checksum that covers them (s_checksum, 0x3FC of the superblock).
    /// </summary>
    public static bool OnlyCheckTimesChanged(IEnumerable<long> offsets) =>
        offsets.All(o => o is >= 0x430 and <= 0x433 or >= 0x440 and <= 0x443 or >= 0x7FC and <= 0x7FF);

    public static string Debugfs(string image, string request)
    {
        var r = ExternalTools.Run("debugfs", "-R", request, image);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"debugfs -R '{request}' {image} failed: {r}");
        }
        return r.StdOut;
    }

    public static DebugfsInode Stat(string image, string path)
    {
        var text = Debugfs(image, $"stat \"{path}\"");
        var head = HeadLine().Match(text);
        if (!head.Success)
        {
            throw new InvalidOperationException($"debugfs stat {path}: unexpected output:\n{text}");
        }
        var owner = OwnerLine().Match(text);
        var links = LinksLine().Match(text);
        if (!owner.Success || !links.Success)
        {
            throw new InvalidOperationException($"debugfs stat {path}: unexpected output:\n{text}");
        }
        (long, uint) Time(string name)
        {
            var m = Regex.Match(text, $@"^\s*{name}: 0x([0-9a-f]+)(?::([0-9a-f]+))?", RegexOptions.Multiline);
            if (!m.Success)
            {
                return (0, 0);
            }
            var baseValue = uint.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            long seconds = (int)baseValue;
            uint nanos = 0;
            if (m.Groups[2].Success)
            {
                var extra = uint.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                seconds += (long)(extra & 3) << 32;
                nanos = extra >> 2;
            }
            return (seconds, nanos);
        }
        (uint, uint)? device = null;
        var dev = DeviceLine().Match(text);
        if (dev.Success)
        {
            device = (uint.Parse(dev.Groups[1].Value, CultureInfo.InvariantCulture), uint.Parse(dev.Groups[2].Value, CultureInfo.InvariantCulture));
        }
        var fast = FastLinkLine().Match(text);
        return new DebugfsInode(
            uint.Parse(head.Groups[1].Value, CultureInfo.InvariantCulture),
            head.Groups[2].Value,
            Convert.ToInt32(head.Groups[3].Value, 8),
            // debugfs prints ids as signed 32-bit numbers.
            unchecked((uint)int.Parse(owner.Groups[1].Value, CultureInfo.InvariantCulture)),
            unchecked((uint)int.Parse(owner.Groups[2].Value, CultureInfo.InvariantCulture)),
            ulong.Parse(owner.Groups[3].Value, CultureInfo.InvariantCulture),
            int.Parse(links.Groups[1].Value, CultureInfo.InvariantCulture),
            long.Parse(links.Groups[2].Value, CultureInfo.InvariantCulture),
            head.Groups[4].Value,
            Time("mtime"), Time("atime"), Time("ctime"),
            device,
            fast.Success ? fast.Groups[1].Value : null,
            text);
    }

    /// <summary>Extended attributes as debugfs ea_get reads them back (raw value bytes), by full name.</summary>
    public static Dictionary<string, byte[]> Xattrs(string image, string path)
    {
        var list = Debugfs(image, $"ea_list \"{path}\"");
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (Match m in EaListLine().Matches(list))
        {
            var name = m.Groups[1].Value;
            var tmp = Path.GetTempFileName();
            try
            {
                Debugfs(image, $"ea_get -f {tmp} \"{path}\" {name}");
                result[name] = File.ReadAllBytes(tmp);
            }
            finally
            {
                File.Delete(tmp);
            }
        }
        return result;
    }

    /// <summary>A file's bytes as debugfs dumps them.</summary>
    public static byte[] Dump(string image, string path)
    {
        var tmp = Path.GetTempFileName();
        try
        {
            Debugfs(image, $"dump \"{path}\" {tmp}");
            return File.ReadAllBytes(tmp);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>
    /// Bytes <c>[offset, offset + count)</c> of a (possibly huge, sparse) file in the image, read through
    /// debugfs bmap and the image itself, so that no more than those bytes are read.
    /// </summary>
    public static byte[] ReadFileRange(string image, string path, long offset, int count)
    {
        var blockSize = int.Parse(SuperblockFields(image)["Block size"], CultureInfo.InvariantCulture);
        var result = new byte[count];
        using var f = File.OpenRead(image);
        for (var done = 0; done < count;)
        {
            var logical = (offset + done) / blockSize;
            var within = (int)((offset + done) % blockSize);
            var n = Math.Min(count - done, blockSize - within);
            var physical = long.Parse(Debugfs(image, $"bmap \"{path}\" {logical}").Trim(), CultureInfo.InvariantCulture);
            if (physical != 0)
            {
                f.Position = physical * blockSize + within;
                f.ReadExactly(result.AsSpan(done, n));
            }
            done += n;
        }
        return result;
    }

    /// <summary>The header of dumpe2fs -h as a dictionary of "Field name" → value.</summary>
    public static Dictionary<string, string> SuperblockFields(string image)
    {
        var r = ExternalTools.Run("dumpe2fs", "-h", image);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException(r.ToString());
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in r.StdOut.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0)
            {
                result[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }
        return result;
    }

    /// <summary>Names in a directory (without . and ..) as debugfs ls -p prints them.</summary>
    public static List<string> List(string image, string path)
    {
        var text = Debugfs(image, $"ls -p \"{path}\"");
        var names = new List<string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // /ino/mode/uid/gid/name/size/
            var parts = line.Split('/');
            if (parts.Length >= 7 && parts[5] is not ("." or "..") && parts[1] != "0")
            {
                names.Add(string.Join('/', parts[5..^2]));
            }
        }
        return names;
    }

    [GeneratedRegex(@"Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)\s+Flags: (0x[0-9a-f]+)")]
    private static partial Regex HeadLine();

    [GeneratedRegex(@"User:\s+(-?\d+)\s+Group:\s+(-?\d+)\s+(?:Project:\s+\d+\s+)?Size: (\d+)")]
    private static partial Regex OwnerLine();

    [GeneratedRegex(@"Links: (\d+)\s+Blockcount: (\d+)")]
    private static partial Regex LinksLine();

    [GeneratedRegex(@"Device major/minor number: (\d+):(\d+)")]
    private static partial Regex DeviceLine();

    [GeneratedRegex("Fast link dest: \"(.*)\"")]
    private static partial Regex FastLinkLine();

    [GeneratedRegex(@"^\s+(\S+) \(\d+\)", RegexOptions.Multiline)]
    private static partial Regex EaListLine();

    /// <summary>UTF-8 text helper for assertions.</summary>
    public static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
