using System.Globalization;
using System.Text;

namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// Writes a <see cref="BlockMap"/> as a bmap file of format 2.0, the one <c>bmaptool copy</c> reads: the header
/// elements, <c>ChecksumType</c>, <c>BmapFileChecksum</c> (the checksum of the whole file written with that
/// element's digits as '0's, which is how bmaptool checks it) and one <c>&lt;Range&gt;</c> per run of mapped
/// blocks with its <c>chksum</c>. The text is produced twice, once to checksum it and once to write it, so
/// neither the file nor the output stream needs to be held or rewound.
/// </summary>
public static class BmapWriter
{
    public static void Write(BlockMap map, string path)
    {
        using var output = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Write(map, output);
    }

    public static void Write(BlockMap map, Stream output)
    {
        var checksumType = map.ChecksumType ?? BmapChecksum.Sha256;
        var placeholder = new string('0', BmapChecksum.HexLength(checksumType));

        using var hash = BmapChecksum.Create(checksumType);
        foreach (var chunk in Emit(map, checksumType, placeholder))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(chunk));
        }
        var fileChecksum = Convert.ToHexStringLower(hash.GetHashAndReset());

        using var writer = new StreamWriter(output, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 65536, leaveOpen: true);
        foreach (var chunk in Emit(map, checksumType, fileChecksum))
        {
            writer.Write(chunk);
        }
        writer.Flush();
    }

    /// <summary>The file's text in pieces; <paramref name="fileChecksum"/> is the only part that differs between passes.</summary>
    private static IEnumerable<string> Emit(BlockMap map, string checksumType, string fileChecksum)
    {
        var c = CultureInfo.InvariantCulture;
        var mappedPercent = map.BlocksCount == 0 ? 0.0 : map.MappedBlocksCount * 100.0 / map.BlocksCount;
        yield return "<?xml version=\"1.0\" ?>\n";
        yield return "<!-- Block map of a disk image, written by ImageTools. Only the blocks listed in <BlockMap>\n" +
                     "     hold data; a copy may skip every other block. Format 2.0, the format bmaptool reads. -->\n\n";
        yield return string.Create(c, $"<bmap version=\"{BlockMap.CurrentVersion}\">\n");
        yield return string.Create(c, $"    <!-- image: {map.ImageSize} bytes ({HumanSize(map.ImageSize)}) -->\n");
        yield return string.Create(c, $"    <ImageSize> {map.ImageSize} </ImageSize>\n\n");
        yield return "    <!-- bytes per block; range numbers below count blocks of this size -->\n";
        yield return string.Create(c, $"    <BlockSize> {map.BlockSize} </BlockSize>\n\n");
        yield return "    <!-- blocks in the whole image, the last one possibly partial -->\n";
        yield return string.Create(c, $"    <BlocksCount> {map.BlocksCount} </BlocksCount>\n\n");
        yield return string.Create(c,
            $"    <!-- blocks holding data: {HumanSize(map.MappedBlocksCount * (long)map.BlockSize)}, {mappedPercent:0.0}% of the image -->\n");
        yield return string.Create(c, $"    <MappedBlocksCount> {map.MappedBlocksCount} </MappedBlocksCount>\n\n");
        yield return "    <!-- checksum function of the ranges and of this file -->\n";
        yield return string.Create(c, $"    <ChecksumType> {checksumType} </ChecksumType>\n\n");
        yield return "    <!-- checksum of this whole file, computed while this value read as all zeros -->\n";
        yield return string.Create(c, $"    <BmapFileChecksum> {fileChecksum} </BmapFileChecksum>\n\n");
        yield return "    <!-- runs of blocks holding data, first-last inclusive, with the checksum of their bytes -->\n";
        yield return "    <BlockMap>\n";
        var line = new StringBuilder();
        foreach (var range in map.Ranges)
        {
            line.Clear();
            line.Append("        <Range");
            if (range.Checksum != null)
            {
                line.Append(" chksum=\"").Append(range.Checksum).Append('"');
            }
            line.Append("> ").Append(range.FirstBlock.ToString(c));
            if (range.LastBlock != range.FirstBlock)
            {
                line.Append('-').Append(range.LastBlock.ToString(c));
            }
            line.Append(" </Range>\n");
            yield return line.ToString();
        }
        yield return "    </BlockMap>\n";
        yield return "</bmap>\n";
    }

    private static string HumanSize(long bytes)
    {
        string[] units = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        if (bytes < 1024)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");
        }
        double value = bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
