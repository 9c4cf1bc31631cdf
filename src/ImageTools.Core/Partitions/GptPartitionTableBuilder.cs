using System.Security.Cryptography;
using System.Text;

namespace ImageTools.Core.Partitions;

/// <summary>
/// Lays out a new GPT the way sgdisk and sfdisk would: 128 entries, partitions on a 1 MiB grain in the order they
/// are added (whatever their numbers, so that partition 1 can be the last on the disk, as Debian's cloud images
/// have it), a partition without a size running to the last usable sector. Identifiers are random, or derived from
/// <see cref="Seed"/> (for SOURCE_DATE_EPOCH builds): the same seed and layout give the same bytes.
/// </summary>
public sealed class GptPartitionTableBuilder
{
    private readonly List<Request> _requests = new();

    public GptPartitionTableBuilder(long diskSizeBytes, int sectorSize = MasterBootRecord.Size)
    {
        DiskSectors.RequireSectorSize(sectorSize);
        SectorSize = sectorSize;
        DiskSizeInSectors = diskSizeBytes / sectorSize;
        if (DiskSizeInSectors < GptDiskLayout.MinimumDiskSectors(1, GptDiskLayout.DefaultEntryCount, sectorSize))
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"a disk of {diskSizeBytes} bytes has no room for a GPT and a partition");
        }
    }

    public int SectorSize { get; }

    public long DiskSizeInSectors { get; }

    /// <summary>Alignment grain in sectors: 2048 (1 MiB with 512-byte sectors) as sgdisk and sfdisk use.</summary>
    public long AlignmentSectors { get; set; } = 1024 * 1024 / MasterBootRecord.Size;

    /// <summary>Derive the disk and partition GUIDs from these bytes instead of drawing them at random.</summary>
    public byte[]? Seed { get; set; }

    /// <summary>The disk GUID; null draws one (or derives it from <see cref="Seed"/>).</summary>
    public Guid? DiskGuid { get; set; }

    /// <summary>MBR boot code (440 bytes) for the protective MBR: GRUB's boot.img on a hybrid disk.</summary>
    public byte[]? BootCode { get; set; }

    /// <summary>
    /// Adds partition <paramref name="number"/>, placed after the ones added before it.
    /// </summary>
    /// <param name="number">Its entry number (1..128); need not follow the disk order.</param>
    /// <param name="type">Its type GUID (<see cref="GptPartitionType"/>).</param>
    /// <param name="name">Its name (at most 36 UTF-16 code units).</param>
    /// <param name="sizeSectors">Its size; null runs it to the last usable sector.</param>
    /// <param name="uniqueGuid">Its unique GUID (Linux's PARTUUID); null draws or derives one.</param>
    /// <param name="attributes">Its attribute bits (bit 2: legacy BIOS bootable).</param>
    /// <param name="alignment">Its own grain in sectors (null: <see cref="AlignmentSectors"/>), e.g. 1 for a BIOS boot partition packed after the table.</param>
    public GptPartitionTableBuilder Add(int number, Guid type, string name, long? sizeSectors = null, Guid? uniqueGuid = null,
        ulong attributes = 0, long? alignment = null)
    {
        if (number < 1 || number > GptDiskLayout.DefaultEntryCount)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"GPT partition number {number} is outside 1..{GptDiskLayout.DefaultEntryCount}");
        }
        if (_requests.Any(r => r.Number == number))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"GPT partition {number} was added twice");
        }
        if (type == Guid.Empty)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"GPT partition {number}: the all-zero type GUID marks an unused entry");
        }
        if (_requests.Count > 0 && _requests[^1].Size == null)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"GPT partition {_requests[^1].Number} runs to the end of the disk, so partition {number} has no room after it");
        }
        _requests.Add(new Request(number, type, name, sizeSectors, uniqueGuid, attributes, alignment));
        return this;
    }

    /// <summary>Places every partition and returns the checked layout.</summary>
    public GptDiskLayout Build()
    {
        var entries = Enumerable.Repeat(new GptPartitionEntry(), GptDiskLayout.DefaultEntryCount).ToArray();
        var probe = new GptDiskLayout { DiskSectors = DiskSizeInSectors, SectorSize = SectorSize, DiskGuid = Guid.Empty, Entries = entries };
        var next = probe.FirstUsableLba;
        foreach (var r in _requests)
        {
            var grain = Math.Max(1, r.Alignment ?? AlignmentSectors);
            var start = (next + grain - 1) / grain * grain;
            var size = r.Size ?? probe.LastUsableLba - start + 1;
            if (size <= 0 || start + size - 1 > probe.LastUsableLba)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"GPT partition {r.Number} ({(r.Size is { } s ? $"{s} sectors" : "the rest of the disk")} from sector {start}) does not fit: " +
                    $"the usable sectors of a {DiskSizeInSectors}-sector disk end at {probe.LastUsableLba}");
            }
            entries[r.Number - 1] = new GptPartitionEntry
            {
                TypeGuid = r.Type,
                UniqueGuid = r.UniqueGuid ?? NewGuid($"partition {r.Number}"),
                StartingLba = (ulong)start,
                EndingLba = (ulong)(start + size - 1),
                Attributes = r.Attributes,
                Name = r.Name,
            };
            next = start + size;
        }
        var layout = probe with { DiskGuid = DiskGuid ?? NewGuid("disk"), BootCode = BootCode };
        layout.Validate();
        return layout;
    }

    private Guid NewGuid(string purpose) => Seed is { } seed ? DeriveGuid(seed, purpose) : Guid.NewGuid();

    /// <summary>
    /// A version-4-shaped GUID from SHA-256 of <paramref name="seed"/> and <paramref name="purpose"/>: unique as
    /// random ones are, and the same for the same input (reproducible builds).
    /// </summary>
    public static Guid DeriveGuid(ReadOnlySpan<byte> seed, string purpose)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(seed);
        hash.AppendData(Encoding.UTF8.GetBytes("\0imagetools gpt " + purpose));
        var bytes = hash.GetHashAndReset().AsSpan(0, 16).ToArray();
        // RFC 9562 in .NET's byte order: the version nibble is the top of byte 7, the variant the top of byte 8.
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes);
    }

    private sealed record Request(int Number, Guid Type, string Name, long? Size, Guid? UniqueGuid, ulong Attributes, long? Alignment);
}
