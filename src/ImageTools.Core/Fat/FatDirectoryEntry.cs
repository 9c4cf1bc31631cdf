using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Fat;

/// <summary>
/// A 32-byte short (8.3) directory entry (fatgen103 section 6):
/// <code>
/// 0x00  name        11 bytes, 8 + 3, space padded, upper case (0xE5 first: deleted; 0x00: end of directory)
/// 0x0B  attributes  u8 (0x01 read-only, 0x02 hidden, 0x04 system, 0x08 volume label, 0x10 directory, 0x20 archive; 0x0F: a long-name entry)
/// 0x0C  NT flags    u8, 0x0D creation 10 ms u8, 0x0E creation time u16, 0x10 creation date u16, 0x12 access date u16
/// 0x14  cluster hi  u16 (FAT32)
/// 0x16  write time  u16, 0x18 write date u16
/// 0x1A  cluster lo  u16
/// 0x1C  size        u32 (0 for a directory)
/// </code>
/// </summary>
public sealed record FatDirectoryEntry
{
    public const int Size = 32;
    public const byte AttributeDirectory = 0x10;
    public const byte AttributeArchive = 0x20;
    public const byte AttributeVolumeLabel = 0x08;
    public const byte AttributeLongName = 0x0F;
    public const byte DeletedMarker = 0xE5;

    /// <summary>The 11 bytes of the 8.3 name as stored ("GRUB    CFG").</summary>
    public required byte[] ShortName { get; init; }

    public byte Attributes { get; init; }

    public uint FirstCluster { get; init; }

    public uint FileSize { get; init; }

    /// <summary>The DOS time and date (2-second resolution, from 1980).</summary>
    public ushort Time { get; init; }

    public ushort Date { get; init; }

    public bool IsDirectory => (Attributes & AttributeDirectory) != 0;

    public static FatDirectoryEntry Read(ReadOnlySpan<byte> source) => new()
    {
        ShortName = source[..11].ToArray(),
        Attributes = source[0x0B],
        FirstCluster = (uint)BinaryPrimitives.ReadUInt16LittleEndian(source[0x14..]) << 16 | BinaryPrimitives.ReadUInt16LittleEndian(source[0x1A..]),
        Time = BinaryPrimitives.ReadUInt16LittleEndian(source[0x16..]),
        Date = BinaryPrimitives.ReadUInt16LittleEndian(source[0x18..]),
        FileSize = BinaryPrimitives.ReadUInt32LittleEndian(source[0x1C..]),
    };

    public void Write(Span<byte> destination)
    {
        if (ShortName.Length != 11 || ShortName[0] is 0 or DeletedMarker or (byte)' ')
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"FAT short name \"{Encoding.ASCII.GetString(ShortName)}\" is not 11 bytes starting with a name character");
        }
        if (IsDirectory && FileSize != 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "a FAT directory entry has size 0");
        }
        destination[..Size].Clear();
        ShortName.CopyTo(destination);
        destination[0x0B] = Attributes;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[0x0E..], Time);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[0x10..], Date);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[0x12..], Date);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[0x14..], (ushort)(FirstCluster >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[0x16..], Time);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[0x18..], Date);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[0x1A..], (ushort)FirstCluster);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[0x1C..], FileSize);
    }

    /// <summary>The short name as a file name ("GRUB.CFG").</summary>
    public string DisplayName()
    {
        var name = Encoding.Latin1.GetString(ShortName, 0, 8).TrimEnd(' ');
        var ext = Encoding.Latin1.GetString(ShortName, 8, 3).TrimEnd(' ');
        if (ShortName[0] == 0x05)
        {
            name = "\u00E5" + name[1..];
        }
        return ext.Length == 0 ? name : name + "." + ext;
    }

    /// <summary>The checksum of an 11-byte short name that each of its long-name entries carries (fatgen103 section 7).</summary>
    public static byte Checksum(ReadOnlySpan<byte> shortName)
    {
        byte sum = 0;
        foreach (var b in shortName[..11])
        {
            sum = (byte)((((sum & 1) << 7) | (sum >> 1)) + b);
        }
        return sum;
    }

    /// <summary>DOS time and date of <paramref name="time"/> (UTC), clamped to 1980-01-01 .. 2107-12-31.</summary>
    public static (ushort Time, ushort Date) DosTime(DateTime time)
    {
        var t = time < new DateTime(1980, 1, 1) ? new DateTime(1980, 1, 1) : time > new DateTime(2107, 12, 31, 23, 59, 58) ? new DateTime(2107, 12, 31, 23, 59, 58) : time;
        return ((ushort)(t.Hour << 11 | t.Minute << 5 | t.Second / 2), (ushort)((t.Year - 1980) << 9 | t.Month << 5 | t.Day));
    }
}

/// <summary>
/// One 32-byte long-file-name entry (fatgen103 section 7): 13 UTF-16 code units of the name, stored before its
/// short entry, last part first:
/// <code>
/// 0x00  order        u8, 1.. (0x40 set on the last part, which is stored first)
/// 0x01  name 1-5     10 bytes
/// 0x0B  attributes   0x0F
/// 0x0C  type         0,  0x0D checksum of the short name
/// 0x0E  name 6-11    12 bytes
/// 0x1A  cluster      0
/// 0x1C  name 12-13   4 bytes
/// </code>
/// After the name's last code unit comes one 0x0000, then 0xFFFF padding.
/// </summary>
public static class FatLongNameEntry
{
    public const int CharsPerEntry = 13;
    public const byte LastPartFlag = 0x40;
    private static readonly int[] CharOffsets = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };

    /// <summary>The entries for <paramref name="name"/>, in the order they are stored (last part first).</summary>
    public static List<byte[]> Encode(string name, byte checksum)
    {
        var parts = (name.Length + CharsPerEntry - 1) / CharsPerEntry;
        if (name.Length is 0 or > 255)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"FAT long name \"{name}\" must be 1 to 255 UTF-16 code units");
        }
        var entries = new List<byte[]>();
        for (var part = parts; part >= 1; part--)
        {
            var e = new byte[FatDirectoryEntry.Size];
            e[0] = (byte)(part | (part == parts ? LastPartFlag : 0));
            e[0x0B] = FatDirectoryEntry.AttributeLongName;
            e[0x0D] = checksum;
            for (var i = 0; i < CharsPerEntry; i++)
            {
                var at = (part - 1) * CharsPerEntry + i;
                ushort unit = at < name.Length ? name[at] : at == name.Length ? (ushort)0 : (ushort)0xFFFF;
                BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(CharOffsets[i]), unit);
            }
            entries.Add(e);
        }
        return entries;
    }

    /// <summary>The 13 code units of one entry, up to its terminator.</summary>
    public static string Decode(ReadOnlySpan<byte> entry)
    {
        var chars = new StringBuilder(CharsPerEntry);
        foreach (var offset in CharOffsets)
        {
            var unit = BinaryPrimitives.ReadUInt16LittleEndian(entry[offset..]);
            if (unit == 0)
            {
                break;
            }
            chars.Append((char)unit);
        }
        return chars.ToString();
    }
}
