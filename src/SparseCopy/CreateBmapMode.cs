using System.Globalization;
using System.Text.Json;
using ImageTools.CommandLineSupport;
using ImageTools.Core;
using ImageTools.Core.Sparse.Bmap;

namespace ImageTools.SparseCopy;

/// <summary>
/// <c>--create-bmap FILE IMAGE</c>: IMAGE's block map in bmaptool's format 2.0 (its data ranges from the file
/// system, each with its SHA-256), which <c>bmaptool copy --bmap FILE</c> and <c>sparsecopy --bmap FILE</c> accept.
/// Blocks of 4096 bytes, like bmaptool on ext4 and xfs, unless <c>-b</c> says otherwise.
/// </summary>
public static class CreateBmapMode
{
    public static int Run(SparseCopyArguments args, Interruption interruption)
    {
        var blockSize = args.BlockSizeGiven ? (int)args.BlockSize : BmapCreator.DefaultBlockSize;
        BlockMap map;
        try
        {
            map = BmapCreator.CreateFile(args.Image, args.CreateBmapPath!, blockSize, cancellationToken: interruption.Token);
        }
        catch (OperationCanceledException e)
        {
            throw new ImageToolsException(ErrorKind.Cancelled, $"interrupted; {args.CreateBmapPath} was not written", e);
        }
        if (args.Json)
        {
            using var stdout = Console.OpenStandardOutput();
            using var json = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteString("image", args.Image);
            json.WriteString("bmap", args.CreateBmapPath);
            json.WriteString("version", map.Version);
            json.WriteNumber("imageSize", map.ImageSize);
            json.WriteNumber("blockSize", map.BlockSize);
            json.WriteNumber("blocksCount", map.BlocksCount);
            json.WriteNumber("mappedBlocksCount", map.MappedBlocksCount);
            json.WriteNumber("mappedBytes", map.MappedBytes);
            json.WriteNumber("ranges", map.Ranges.Count);
            json.WriteString("checksumType", map.ChecksumType);
            json.WriteEndObject();
            json.Flush();
            stdout.WriteByte((byte)'\n');
        }
        else if (!args.Quiet)
        {
            var percent = map.BlocksCount == 0 ? 0 : map.MappedBlocksCount * 100.0 / map.BlocksCount;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"sparsecopy: bmap {args.CreateBmapPath}: {map.MappedBlocksCount} of {map.BlocksCount} blocks of {map.BlockSize} bytes mapped " +
                $"({HumanSize.Format(map.MappedBytes)} of {HumanSize.Format(map.ImageSize)}, {percent:0.0}%) in {map.Ranges.Count} ranges"));
        }
        return ExitCodes.Success;
    }
}
