using FluentAssertions;
using ImageTools.Core.Ext.Reader;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Ext.Reader;

/// <summary>
/// Small valid images (ext2, ext3, ext4 from mke2fs -d, 1K and 4K blocks) with bytes of their metadata
/// flipped or overwritten at random (fixed seeds): each damaged copy is opened and fully exported in
/// memory and must either work or fail with an ImageToolsException naming it, within a time bound.
/// ext4 is also read with checksum verification off, so the damage reaches the structural checks
/// instead of being stopped by metadata_csum.
/// </summary>
public sealed class MutationRobustnessTests(ITestOutputHelper output)
{
    private const int CasesPerImage = 600;

    public static TheoryData<string, int, bool> Images() => new()
    {
        { "ext2", 1024, true }, { "ext2", 4096, true },
        { "ext3", 1024, true }, { "ext3", 4096, true },
        { "ext4", 1024, true }, { "ext4", 4096, true },
        { "ext4", 1024, false }, { "ext4", 4096, false },
        // ext4 as our writer makes it (flex_bg tables, extent trees, checksummed htree and xattr blocks).
        { "ours-ext4", 1024, true }, { "ours-ext4", 4096, true },
        { "ours-ext4", 1024, false }, { "ours-ext4", 4096, false },
    };

    private static readonly object Gate = new();
    private static string? _tree;
    private static TempDirectory? _folder;

    [Theory]
    [MemberData(nameof(Images))]
    public void Damaged_metadata_is_read_or_refused_with_a_clear_error(string fsType, int blockSize, bool verifyChecksums)
    {
        ExternalTools.RequireRoot("the small sample tree has a device node");
        string image;
        lock (Gate)
        {
            _folder ??= new TempDirectory("imagetools-mutation-");
            _tree ??= ExtImages.BuildSmallTree(Path.Combine(_folder.Path, "tree"));
            image = Path.Combine(_folder.Path, $"{fsType}-{blockSize}.img");
            if (!File.Exists(image) && fsType.StartsWith("ours-", StringComparison.Ordinal))
            {
                var writerOptions = new ImageTools.Core.Ext.Writer.ExtFilesystemOptions
                {
                    Type = ImageTools.Core.Ext.Writer.ExtFilesystemType.Ext4,
                    BlockSize = blockSize,
                    SizeBytes = blockSize == 1024 ? 4L << 20 : 12L << 20,
                    SourceDateEpoch = 1_700_000_000,
                };
                new ImageTools.Core.Ext.Writer.ExtFilesystemBuilder(writerOptions)
                    .BuildImageFile(new ImageTools.Core.Ext.Sources.DirectoryTreeSource(_tree), image, TestContext.Current.CancellationToken);
            }
            else if (!File.Exists(image))
            {
                ExtImages.Make(image, fsType, blockSize, _tree, blockSize == 1024 ? "4M" : "12M");
            }
        }
        var metadata = ExtImages.MetadataBlocks(image, blockSize);
        metadata.Should().NotBeEmpty();
        var pristine = File.ReadAllBytes(image);
        var options = new ExtOpenOptions { VerifyChecksums = verifyChecksums };

        // The undamaged image reads completely.
        Robustness.Check(() => new MemoryStream(pristine, writable: false), "pristine", TimeSpan.FromSeconds(30), options).Error.Should().BeNull();

        // A fixed seed per image (HashCode is randomised per process, so it is not used here).
        var seed = (fsType[^1] - '0') * 100_000 + blockSize * 10 + (verifyChecksums ? 1 : 0) + (fsType.StartsWith("ours-", StringComparison.Ordinal) ? 7 : 0);
        var live = LiveBytes(pristine, metadata, blockSize);
        var random = new Random(seed);
        var bytes = (byte[])pristine.Clone();
        var refused = 0;
        var read = 0;
        var kinds = new Dictionary<string, int>();
        for (var i = 0; i < CasesPerImage; i++)
        {
            var changes = Mutate(bytes, metadata, live, blockSize, random);
            var name = $"{fsType}-{blockSize}-case{i}";
            var outcome = Robustness.Check(() => new MemoryStream(bytes, writable: false), name, TimeSpan.FromSeconds(30), options);
            if (outcome.Error == null)
            {
                read++;
            }
            else
            {
                refused++;
                var kind = outcome.Error[..(outcome.Error.IndexOf(']') + 1)];
                kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            }
            // Undo exactly what was changed, so every case starts from the pristine image.
            for (var c = changes.Count - 1; c >= 0; c--)
            {
                bytes[changes[c].Offset] = changes[c].Original;
            }
        }
        bytes.Should().Equal(pristine);
        output.WriteLine($"{fsType} {blockSize} checksums {(verifyChecksums ? "on" : "off")}: {CasesPerImage} cases (seed {seed}), {read} read, {refused} refused: "
            + string.Join(", ", kinds.OrderByDescending(k => k.Value).Select(k => $"{k.Key} {k.Value}")));
    }

    // The non-zero bytes of the metadata blocks: where damage most often changes what a reader sees
    // (the zero slack of directory blocks and unused inode slots mostly does not).
    private static int[] LiveBytes(byte[] image, IReadOnlyList<long> metadata, int blockSize)
    {
        var live = new List<int>();
        foreach (var block in metadata)
        {
            var start = (int)(block * blockSize);
            for (var i = start; i < start + blockSize && i < image.Length; i++)
            {
                if (image[i] != 0)
                {
                    live.Add(i);
                }
            }
        }
        return live.ToArray();
    }

    // One to three changes to metadata bytes: a flipped bit, a random byte, a 32-bit "interesting"
    // value (0, all ones, sign bit, near the block count) or a zeroed run; two times in three at or
    // next to a non-zero byte. Returns the original bytes, in the order changed.
    private static List<(int Offset, byte Original)> Mutate(byte[] image, IReadOnlyList<long> metadata, int[] live, int blockSize, Random random)
    {
        var changes = new List<(int, byte)>();
        void Set(int offset, byte value)
        {
            if (offset < 0 || offset >= image.Length)
            {
                return;
            }
            changes.Add((offset, image[offset]));
            image[offset] = value;
        }
        var count = random.Next(1, 4);
        for (var c = 0; c < count; c++)
        {
            int offset;
            if (random.Next(3) != 0 && live.Length > 0)
            {
                offset = live[random.Next(live.Length)] + random.Next(-2, 3);
            }
            else
            {
                // The superblock and descriptors are few bytes but everything depends on them: favour them.
                var block = random.Next(4) == 0 ? metadata[random.Next(Math.Min(3, metadata.Count))] : metadata[random.Next(metadata.Count)];
                offset = (int)(block * blockSize) + random.Next(blockSize);
            }
            offset = Math.Clamp(offset, 0, image.Length - 1);
            switch (random.Next(5))
            {
                case 0:
                    Set(offset, (byte)(image[offset] ^ (1 << random.Next(8))));
                    break;
                case 1:
                    Set(offset, (byte)random.Next(256));
                    break;
                case 2:
                case 3:
                {
                    uint[] interesting = { 0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1, 2, 0xFFFF, 0x10000, (uint)(image.Length / blockSize), (uint)(image.Length / blockSize) + 1 };
                    var value = interesting[random.Next(interesting.Length)];
                    var aligned = offset & ~3;
                    for (var b = 0; b < 4; b++)
                    {
                        Set(aligned + b, (byte)(value >> (8 * b)));
                    }
                    break;
                }
                default:
                    for (var b = 0; b < 16; b++)
                    {
                        Set(offset + b, 0);
                    }
                    break;
            }
        }
        return changes;
    }
}
