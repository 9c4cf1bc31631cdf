using System.Text;
using CsCheck;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Writer.WriterTestKit;

namespace ImageTools.Core.Tests.Ext.Writer;

/// <summary>
/// Random trees (CsCheck): every file type, deep nesting, names up to 255 bytes, 32-bit ids, times from
/// 1906 to 2286 with nanoseconds, sparse files up to 6 GiB, hard links, xattrs; ext2 and ext3, 1 KiB and
/// 4 KiB blocks, sized by the default rule. Each image must pass e2fsck -fn, be an e2fsck -fy
/// fixpoint, and read back through debugfs as generated. The seed is fixed (reproducible in CI);
/// set CsCheck_Seed to explore others.
/// </summary>
public class WriterPropertyTests
{
    private const string FixedSeed = "0000000000001";

    /// <summary>One step of building a tree; the numbers are decoded by <see cref="ToEntries"/>.</summary>
    public sealed record Op(int Kind, int Parent, int NameLength, int Mode, uint Uid, uint Gid, long Time, int Nanos);

    private static readonly Gen<Op> OpGen = Gen.Select(
        Gen.Int[0, 9], Gen.Int[0, 1000], Gen.Int[1, 255], Gen.Int[0, 0xFFF], Gen.UInt, Gen.UInt,
        Gen.Long[-2_000_000_000L, 10_000_000_000L], Gen.Int[0, 999_999_999],
        (k, p, n, m, u, g, t, ns) => new Op(k, p, n, m, u, g, t, ns));

    private static readonly Gen<(Op[] Ops, bool Ext3, bool Big)> TreeGen = Gen.Select(OpGen.Array[1, 40], Gen.Bool, Gen.Bool);

    /// <summary>Turns the steps into entries: a parent chosen among the directories so far, unique names, and so on.</summary>
    internal static List<FileEntry> ToEntries(Op[] ops)
    {
        var dirs = new List<string> { "" };
        var files = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<FileEntry> { Dir("", 0x1ED) };
        for (var i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            var parent = dirs[op.Parent % dirs.Count];
            var name = MakeName(op, i);
            var path = parent.Length == 0 ? name : parent + "/" + name;
            if (!names.Add(path))
            {
                continue;
            }
            var time = new ExtTimestamp(op.Time, (uint)op.Nanos);
            var xattrs = (op.Mode & 3) == 1
                ? new[] { new ExtendedAttribute("user.p" + (op.Uid % 7), Encoding.ASCII.GetBytes(new string('v', (int)(op.Gid % 300)))) }
                : Array.Empty<ExtendedAttribute>();
            switch (op.Kind)
            {
                case 0 or 1:
                    entries.Add(new FileEntry { Path = path, Type = FileEntryType.Directory, Permissions = op.Mode, Uid = op.Uid, Gid = op.Gid, ModificationTime = time, ExtendedAttributes = xattrs });
                    dirs.Add(path);
                    break;
                case 2 or 3:
                {
                    var size = (int)(op.Uid % 70_000);
                    var bytes = new byte[size];
                    new Random(op.NameLength * 7919 + i).NextBytes(bytes);
                    entries.Add(new FileEntry
                    {
                        Path = path, Type = FileEntryType.RegularFile, Permissions = op.Mode, Uid = op.Uid, Gid = op.Gid, ModificationTime = time,
                        Content = FileContent.FromBytes(bytes), ExtendedAttributes = xattrs,
                    });
                    files.Add(path);
                    break;
                }
                case 4:
                {
                    var length = 1 + (long)(op.Uid % (6UL << 30));
                    var a = length / 3 / 4096 * 4096;
                    var b = Math.Max(0, length - 5000);
                    entries.Add(SparseFile(path, length, a, b) is var e ? new FileEntry
                    {
                        Path = e.Path, Type = e.Type, Permissions = op.Mode, Uid = op.Uid, Gid = op.Gid, ModificationTime = time, Content = e.Content,
                    } : null!);
                    files.Add(path);
                    break;
                }
                case 5:
                {
                    var target = new string('t', 1 + (int)(op.Gid % 900));
                    entries.Add(new FileEntry { Path = path, Type = FileEntryType.SymbolicLink, LinkTarget = target, Uid = op.Uid, Gid = op.Gid, ModificationTime = time, Permissions = 0x1FF });
                    files.Add(path);
                    break;
                }
                case 6:
                    if (files.Count > 0)
                    {
                        entries.Add(new FileEntry { Path = path, Type = FileEntryType.HardLink, LinkTarget = files[(int)(op.Uid % (uint)files.Count)] });
                    }
                    break;
                case 7:
                    entries.Add(new FileEntry
                    {
                        Path = path, Type = op.Mode % 2 == 0 ? FileEntryType.CharacterDevice : FileEntryType.BlockDevice,
                        DeviceMajor = op.Uid % 4096, DeviceMinor = op.Gid % (1 << 20), Permissions = op.Mode, Uid = op.Uid, Gid = op.Gid, ModificationTime = time,
                    });
                    files.Add(path);
                    break;
                default:
                    entries.Add(new FileEntry
                    {
                        Path = path, Type = op.Mode % 2 == 0 ? FileEntryType.Fifo : FileEntryType.Socket, Permissions = op.Mode, Uid = op.Uid, Gid = op.Gid, ModificationTime = time,
                        ExtendedAttributes = xattrs,
                    });
                    files.Add(path);
                    break;
            }
        }
        return entries;
    }

    /// <summary>Names of the wanted length in bytes, ASCII and multi-byte UTF-8 mixed, never "." or "..".</summary>
    private static string MakeName(Op op, int index)
    {
        var sb = new StringBuilder();
        sb.Append(index.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('-');
        var useMultibyte = op.Mode % 5 == 0;
        while (Encoding.UTF8.GetByteCount(sb.ToString()) < op.NameLength)
        {
            var remaining = op.NameLength - Encoding.UTF8.GetByteCount(sb.ToString());
            sb.Append(useMultibyte && remaining >= 2 ? 'é' : (char)('a' + (sb.Length + op.Kind) % 26));
        }
        return sb.ToString();
    }

    [Fact]
    public void Random_trees_pass_e2fsck_and_read_back_as_generated()
    {
        TreeGen.Sample(sample =>
        {
            var (ops, ext3, big) = sample;
            using var dir = new TempDirectory();
            var image = dir.File("fs.img");
            var entries = ToEntries(ops);
            var options = new ExtFilesystemOptions
            {
                Type = ext3 ? ExtFilesystemType.Ext3 : ExtFilesystemType.Ext2,
                BlockSize = big ? 4096 : 1024,
            };
            Build(new EntryListSource(entries), image, options);
            AssertClean(image);
            VerifyEntries(image, entries, options);
        }, seed: Environment.GetEnvironmentVariable("CsCheck_Seed") ?? FixedSeed, iter: 6, threads: 1);
    }
}
