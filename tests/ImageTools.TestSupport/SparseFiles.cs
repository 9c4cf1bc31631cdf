using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.TestSupport;

/// <summary>Compares big sparse files quickly: only ranges that hold data in either file are read.</summary>
public static partial class SparseFiles
{
    private const int SeekData = 3;
    private const int SeekHole = 4;

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    /// <summary>The data ranges of a file (SEEK_DATA/SEEK_HOLE; the whole file where unsupported).</summary>
    public static List<(long Start, long End)> DataRanges(string path)
    {
        var length = new FileInfo(path).Length;
        var ranges = new List<(long, long)>();
        using var handle = File.OpenHandle(path);
        if (!OperatingSystem.IsLinux())
        {
            ranges.Add((0, length));
            return ranges;
        }
        var fd = (int)handle.DangerousGetHandle();
        long pos = 0;
        while (pos < length)
        {
            var data = lseek(fd, pos, SeekData);
            if (data < 0)
            {
                if (Marshal.GetLastPInvokeError() == 6)
                {
                    break; // ENXIO: only a hole follows
                }
                ranges.Add((pos, length));
                break;
            }
            var hole = lseek(fd, data, SeekHole);
            if (hole < 0)
            {
                hole = length;
            }
            ranges.Add((data, hole));
            pos = hole;
        }
        return ranges;
    }

    /// <summary>Byte offsets where two equally long files differ (holes read as zeros).</summary>
    public static List<long> Differences(string a, string b, int limit = 10000)
    {
        var differences = new List<long>();
        if (new FileInfo(a).Length != new FileInfo(b).Length)
        {
            differences.Add(-1);
            return differences;
        }
        var ranges = DataRanges(a).Concat(DataRanges(b)).OrderBy(r => r.Start).ToList();
        using var ha = File.OpenHandle(a);
        using var hb = File.OpenHandle(b);
        var bufA = new byte[1 << 20];
        var bufB = new byte[1 << 20];
        long covered = 0;
        foreach (var (start, end) in ranges)
        {
            for (var pos = Math.Max(start, covered); pos < end;)
            {
                var n = (int)Math.Min(bufA.Length, end - pos);
                Read(ha, bufA.AsSpan(0, n), pos);
                Read(hb, bufB.AsSpan(0, n), pos);
                for (var i = 0; i < n && differences.Count < limit; i++)
                {
                    if (bufA[i] != bufB[i])
                    {
                        differences.Add(pos + i);
                    }
                }
                pos += n;
            }
            covered = Math.Max(covered, end);
        }
        return differences;
    }

    private static void Read(SafeFileHandle h, Span<byte> buffer, long offset)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = RandomAccess.Read(h, buffer[done..], offset + done);
            if (n == 0)
            {
                buffer[done..].Clear();
                return;
            }
            done += n;
        }
    }
}
