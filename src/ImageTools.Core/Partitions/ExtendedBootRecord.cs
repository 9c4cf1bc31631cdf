using System.Buffers.Binary;

namespace ImageTools.Core.Partitions;

/// <summary>
/// An extended boot record: one link of the chain of logical partitions inside an extended partition. It has
/// the MBR layout (entries at 0x1BE, 0x55AA at 0x1FE, the boot code area unused) and, by the convention
/// sfdisk, fdisk and the Linux kernel share, uses two entries:
/// <list type="bullet">
/// <item>the logical partition, its start counted from this EBR's own sector;</item>
/// <item>a link (type 0x05) to the next EBR, its start counted from the start of the extended partition,
/// its size reaching to the end of the next logical partition; an unused link ends the chain.</item>
/// </list>
/// Like sfdisk, reading takes the first used non-extended entry with a type as the logical partition and the
/// first used extended entry as the link, wherever they sit; we always write them to slots 0 and 1.
/// </summary>
public sealed class ExtendedBootRecord
{
    public const int Size = MasterBootRecord.Size;

    private readonly MbrPartitionEntry[] _entries;

    /// <summary>An EBR holding <paramref name="logical"/> in slot 0 and <paramref name="next"/> in slot 1.</summary>
    public ExtendedBootRecord(MbrPartitionEntry logical, MbrPartitionEntry next)
        : this(new[] { logical, next, MbrPartitionEntry.Empty, MbrPartitionEntry.Empty })
    {
    }

    private ExtendedBootRecord(MbrPartitionEntry[] entries)
    {
        _entries = entries;
        LogicalEntryIndex = Array.FindIndex(entries, e => e.IsUsed && !e.IsExtended && e.Type != MbrPartitionType.Empty);
        NextEntryIndex = Array.FindIndex(entries, e => e.IsUsed && e.IsExtended);
    }

    /// <summary>An EBR with no logical partition and no link: what ends an empty extended partition.</summary>
    public static ExtendedBootRecord Blank { get; } = new(MbrPartitionEntry.Empty, MbrPartitionEntry.Empty);

    /// <summary>All four entries as found (or as written: logical, link, empty, empty).</summary>
    public IReadOnlyList<MbrPartitionEntry> Entries => _entries;

    /// <summary>Slot of the logical partition's entry, or -1 when this EBR describes none.</summary>
    public int LogicalEntryIndex { get; }

    /// <summary>Slot of the link to the next EBR, or -1 at the end of the chain.</summary>
    public int NextEntryIndex { get; }

    /// <summary>The logical partition (start relative to this EBR), or null.</summary>
    public MbrPartitionEntry? LogicalEntry => LogicalEntryIndex >= 0 ? _entries[LogicalEntryIndex] : null;

    /// <summary>The link to the next EBR (start relative to the extended partition), or null at the end of the chain.</summary>
    public MbrPartitionEntry? NextEntry => NextEntryIndex >= 0 ? _entries[NextEntryIndex] : null;

    /// <summary>
    /// Used entries that are neither the logical partition nor the link. sfdisk ignores them ("extra data"),
    /// the Linux kernel may not: either way the table is not what its author meant.
    /// </summary>
    public IEnumerable<int> ExtraEntryIndexes =>
        Enumerable.Range(0, _entries.Length)
            .Where(i => i != LogicalEntryIndex && i != NextEntryIndex && _entries[i].IsUsed);

    /// <summary>
    /// Reads an EBR; throws <see cref="ErrorKind.InvalidPartitionTable"/> when the 0x55AA signature is missing
    /// (the kernel stops the chain there silently; we say so).
    /// </summary>
    /// <param name="sector">The EBR's sector.</param>
    /// <param name="what">Names the EBR in messages, e.g. "disk.img: EBR at sector 22528 (partition 5)".</param>
    public static ExtendedBootRecord Read(ReadOnlySpan<byte> sector, string what)
    {
        if (sector.Length < Size)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable, $"{what}: only {sector.Length} bytes, an EBR needs {Size}");
        }
        if (!MasterBootRecord.HasBootSignature(sector))
        {
            var at = MasterBootRecord.BootSignatureOffset;
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{what}: bytes 0x1FE-0x1FF are 0x{sector[at]:x2}{sector[at + 1]:x2}, not the EBR signature 0x55AA " +
                "(the chain of logical partitions is broken)");
        }
        var entries = new MbrPartitionEntry[MasterBootRecord.EntryCount];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = MbrPartitionEntry.Read(sector[MasterBootRecord.EntryOffset(i)..]);
        }
        return new ExtendedBootRecord(entries);
    }

    /// <summary>Writes the whole sector: zeros, the entries, the signature (as sfdisk writes a new EBR).</summary>
    public void Write(Span<byte> sector)
    {
        if (sector.Length < Size)
        {
            throw new ArgumentException($"an EBR needs {Size} bytes, got {sector.Length}", nameof(sector));
        }
        sector[..Size].Clear();
        for (var i = 0; i < _entries.Length; i++)
        {
            try
            {
                _entries[i].Write(sector[MasterBootRecord.EntryOffset(i)..]);
            }
            catch (ImageToolsException e)
            {
                throw new ImageToolsException(e.Kind, $"EBR entry {i}: {e.Message}", e);
            }
        }
        BinaryPrimitives.WriteUInt16LittleEndian(sector[MasterBootRecord.BootSignatureOffset..], MasterBootRecord.BootSignature);
    }
}
