using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Partitions;

/// <summary>
/// One GPT partition entry (UEFI specification 2.10, section 5.3.3); entries are at least 128 bytes:
/// <code>
/// 0x00  partition type GUID     16 bytes (all zero: unused entry)
/// 0x10  unique partition GUID   16 bytes
/// 0x20  starting LBA            u64
/// 0x28  ending LBA              u64, inclusive
/// 0x30  attributes              u64 (bit 0 required, bit 2 legacy BIOS bootable, bits 48-63 type specific)
/// 0x38  partition name          36 UTF-16LE code units, zero padded
/// </code>
/// </summary>
public sealed record GptPartitionEntry
{
    public const int TypeGuidOffset = 0;
    public const int UniqueGuidOffset = TypeGuidOffset + 16;
    public const int StartingLbaOffset = UniqueGuidOffset + 16;
    public const int EndingLbaOffset = StartingLbaOffset + 8;
    public const int AttributesOffset = EndingLbaOffset + 8;
    public const int NameOffset = AttributesOffset + 8;
    public const int NameLength = 72;
    public const int Size = NameOffset + NameLength;

    /// <summary>Attribute bit 2: the legacy BIOS may boot this partition (what sfdisk shows as LegacyBIOSBootable).</summary>
    public const ulong LegacyBiosBootableAttribute = 1UL << 2;

    public Guid TypeGuid { get; init; }

    public Guid UniqueGuid { get; init; }

    public ulong StartingLba { get; init; }

    public ulong EndingLba { get; init; }

    public ulong Attributes { get; init; }

    public string Name { get; init; } = "";

    public bool IsUsed => TypeGuid != Guid.Empty;

    public static GptPartitionEntry Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"a GPT partition entry needs {Size} bytes, got {source.Length}", nameof(source));
        }
        var nameBytes = source.Slice(NameOffset, NameLength);
        var nameEnd = 0;
        while (nameEnd < NameLength && (nameBytes[nameEnd] != 0 || nameBytes[nameEnd + 1] != 0))
        {
            nameEnd += 2;
        }
        return new GptPartitionEntry
        {
            TypeGuid = new Guid(source.Slice(TypeGuidOffset, 16)),
            UniqueGuid = new Guid(source.Slice(UniqueGuidOffset, 16)),
            StartingLba = BinaryPrimitives.ReadUInt64LittleEndian(source[StartingLbaOffset..]),
            EndingLba = BinaryPrimitives.ReadUInt64LittleEndian(source[EndingLbaOffset..]),
            Attributes = BinaryPrimitives.ReadUInt64LittleEndian(source[AttributesOffset..]),
            Name = Encoding.Unicode.GetString(nameBytes[..nameEnd]),
        };
    }

    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"a GPT partition entry needs {Size} bytes, got {destination.Length}", nameof(destination));
        }
        if (IsUsed && EndingLba < StartingLba)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"GPT entry \"{Name}\": ending LBA {EndingLba} is before starting LBA {StartingLba}");
        }
        if (Encoding.Unicode.GetByteCount(Name) > NameLength)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"GPT partition name \"{Name}\" is longer than {NameLength / 2} UTF-16 code units");
        }
        destination[..Size].Clear();
        TypeGuid.TryWriteBytes(destination.Slice(TypeGuidOffset, 16));
        UniqueGuid.TryWriteBytes(destination.Slice(UniqueGuidOffset, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(destination[StartingLbaOffset..], StartingLba);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[EndingLbaOffset..], EndingLba);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[AttributesOffset..], Attributes);
        Encoding.Unicode.GetBytes(Name, destination.Slice(NameOffset, NameLength));
    }
}
