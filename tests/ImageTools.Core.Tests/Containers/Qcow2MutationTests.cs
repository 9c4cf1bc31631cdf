using System.Buffers.Binary;
using FluentAssertions;
using ImageTools.Core.Containers;
using ImageTools.Core.Streams;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Containers;

/// <summary>
/// qcow2 images made by qemu-img (plain, zlib- and zstd-compressed) with bytes of their metadata (header, L1 and
/// L2 tables) overwritten at random, fixed seeds: every damaged copy is read whole and must either read or fail
/// with an ImageToolsException, within a time bound: never another exception, never a hang.
/// </summary>
public sealed class Qcow2MutationTests(ITestOutputHelper output) : IDisposable
{
    private const int Cases = 250;
    private readonly TempDirectory _dir = new("qcow2-mutation-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("plain", new string[0], 11)]
    [InlineData("zlib", new[] { "-c" }, 12)]
    [InlineData("zstd", new[] { "-c", "-o", "compression_type=zstd" }, 13)]
    public void DamagedMetadata_IsReadOrRefusedWithAClearError(string kind, string[] options, int seed)
    {
        ExternalTools.Require("qemu-img");
        var raw = SparseFiles.Create(_dir.File("src.raw"), 40L << 20,
            Enumerable.Range(0, 12).Select(i => ((long)i * 3_300_000, 5000 + i * 20_000)));
        var image = _dir.File($"{kind}.qcow2");
        var r = ExternalTools.Run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", .. options, raw, image]);
        r.ExitCode.Should().Be(0, r.ToString());
        var pristine = File.ReadAllBytes(image);
        var expected = File.ReadAllBytes(raw);

        // The undamaged image reads to the raw bytes.
        ReadAll(image, out var pristineBytes).Should().BeNull();
        pristineBytes.Should().Equal(expected);

        var regions = MetadataRegions(pristine);
        var random = new Random(seed);
        int refused = 0, read = 0;
        var damaged = _dir.File("damaged.qcow2");
        for (var i = 0; i < Cases; i++)
        {
            var bytes = (byte[])pristine.Clone();
            var changes = 1 + random.Next(4);
            for (var c = 0; c < changes; c++)
            {
                var (start, length) = regions[random.Next(regions.Count)];
                var at = start + random.Next(length);
                if (at >= bytes.Length)
                {
                    continue; // cut off by an earlier truncation in this case
                }
                switch (random.Next(4))
                {
                    case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                    case 1: bytes[at] = (byte)random.Next(256); break;
                    case 2: bytes.AsSpan(at / 8 * 8, Math.Min(8, bytes.Length - at / 8 * 8)).Fill(0xFF); break;
                    default: bytes = bytes[..Math.Max(1, at)]; break; // truncated there
                }
            }
            File.WriteAllBytes(damaged, bytes);
            var error = ReadAll(damaged, out _);
            if (error == null)
            {
                read++;
            }
            else
            {
                error.Should().Contain(damaged, $"case {i}: the message names the file");
                refused++;
            }
        }
        output.WriteLine($"{kind}: {read} read, {refused} refused");
        refused.Should().BeGreaterThan(Cases / 4, "most damage to the tables must be noticed");
    }

    /// <summary>The header cluster's first 512 bytes, the L1 table and every L2 table.</summary>
    private static List<(int Start, int Length)> MetadataRegions(byte[] image)
    {
        var regions = new List<(int, int)> { (0, 512) };
        var clusterSize = 1 << (int)BinaryPrimitives.ReadUInt32BigEndian(image.AsSpan(20));
        var l1Size = (int)BinaryPrimitives.ReadUInt32BigEndian(image.AsSpan(36));
        var l1Offset = (int)BinaryPrimitives.ReadUInt64BigEndian(image.AsSpan(40));
        regions.Add((l1Offset, l1Size * 8));
        for (var i = 0; i < l1Size; i++)
        {
            var l2 = (int)(BinaryPrimitives.ReadUInt64BigEndian(image.AsSpan(l1Offset + i * 8)) & 0x00FF_FFFF_FFFF_FE00UL);
            if (l2 != 0)
            {
                regions.Add((l2, clusterSize));
            }
        }
        // Clamped to the file: qemu's last table may end past a compressed image's last byte.
        return regions.Select(r => (r.Item1, Math.Min(r.Item2, image.Length - r.Item1))).Where(r => r.Item2 > 0).ToList();
    }

    /// <summary>Reads the whole virtual disk; returns null, or the ImageToolsException's message. Other exceptions and hangs fail the test.</summary>
    private static string? ReadAll(string path, out byte[] disk)
    {
        byte[] result = [];
        string? error = null;
        var task = Task.Run(() =>
        {
            try
            {
                using var source = ContainerOpener.OpenAny(path, null, 0);
                var length = source.Length ?? 0;
                // A damaged size may be huge: keep the bytes only for a disk of plausible size.
                var bytes = length <= 64L << 20 ? new byte[length] : null;
                var scratch = new byte[1 << 20];
                for (var extent = source.NextData(0); extent is { } e; extent = source.NextData(e.End))
                {
                    var end = Math.Min(e.End, length);
                    for (var at = e.Offset; at < end;)
                    {
                        var n = source.ReadFully(at, scratch.AsSpan(0, (int)Math.Min(scratch.Length, end - at)));
                        n.Should().BeGreaterThan(0);
                        scratch.AsSpan(0, n).CopyTo(bytes == null ? scratch : bytes.AsSpan((int)at));
                        at += n;
                    }
                    if (end >= length)
                    {
                        break;
                    }
                }
                result = bytes ?? [];
            }
            catch (ImageToolsException e)
            {
                error = e.Message;
            }
        });
        task.Wait(TimeSpan.FromSeconds(60)).Should().BeTrue($"reading {path} must not hang");
        disk = result;
        return error;
    }
}
