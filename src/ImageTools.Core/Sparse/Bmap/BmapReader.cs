using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// Reads bmap files as <c>bmaptool copy</c> does, versions 1.0 to 2.x:
/// <list type="bullet">
/// <item>the root <c>&lt;bmap version="M.m"&gt;</c>; a major version above 2 is refused;</item>
/// <item><c>ImageSize</c>, <c>BlockSize</c>, <c>BlocksCount</c> (must equal ImageSize / BlockSize rounded up) and
/// <c>MappedBlocksCount</c> (must equal the blocks of the ranges: bmaptool only finds out after copying);</item>
/// <item>checksums: none before 1.3; SHA-1 in <c>sha1="…"</c> attributes and <c>BmapFileSHA1</c> in 1.3; from 1.4
/// (= 2.0) the function named by <c>ChecksumType</c>, <c>chksum="…"</c> attributes and <c>BmapFileChecksum</c>;</item>
/// <item>the file's own checksum is that of the whole file with the checksum's digits replaced by '0's (bmaptool
/// replaces the first occurrence of the digits in the raw bytes; so do we);</item>
/// <item><c>&lt;Range&gt;</c> text is "first-last" or "first", blanks allowed around the numbers.</item>
/// </list>
/// GPG clear-signed bmaps are refused with a hint (their signature would go unchecked).
/// </summary>
public static class BmapReader
{
    /// <summary>A bmap larger than this is not a bmap (ours take ~110 bytes per range).</summary>
    public const int MaxFileSize = 256 * 1024 * 1024;

    private const int SupportedMajorVersion = 2;

    public static BlockMap Read(string path)
    {
        byte[] content;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxFileSize)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{path}: {info.Length} bytes is too big for a bmap file") { Path = path };
            }
            content = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{path}: bmap file not found", e) { Path = path };
        }
        catch (DirectoryNotFoundException e)
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{path}: bmap file not found", e) { Path = path };
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{path}: cannot read the bmap file: {e.Message}", e) { Path = path };
        }
        return Read(content, path);
    }

    public static BlockMap Read(Stream stream, string source = "bmap")
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = stream.Read(chunk)) > 0)
        {
            if (buffer.Length + n > MaxFileSize)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{source}: more than {MaxFileSize} bytes is too big for a bmap file") { Path = source };
            }
            buffer.Write(chunk, 0, n);
        }
        return Read(buffer.ToArray(), source);
    }

    /// <param name="content">The bmap file's bytes.</param>
    /// <param name="source">Names the bmap in messages.</param>
    public static BlockMap Read(byte[] content, string source = "bmap")
    {
        if (content.AsSpan().StartsWith("-----BEGIN PGP SIGNED MESSAGE-----"u8))
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{source} is GPG clear-signed; check and unwrap it first (gpg --output plain.bmap --decrypt {source}) and pass the result")
            { Path = source };
        }

        XDocument document;
        try
        {
            using var reader = XmlReader.Create(new MemoryStream(content, writable: false),
                new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
            document = XDocument.Load(reader, LoadOptions.SetLineInfo);
        }
        catch (XmlException e)
        {
            throw Corrupt(source, $"not well-formed XML: {e.Message}");
        }

        var root = document.Root!;
        if (root.Name.LocalName != "bmap")
        {
            throw Corrupt(source, $"the root element is <{root.Name.LocalName}>, not <bmap>");
        }
        var version = ((string?)root.Attribute("version"))?.Trim()
                      ?? throw Corrupt(source, "<bmap> has no version attribute");
        var (major, minor) = ParseVersion(version, source);
        if (major > SupportedMajorVersion)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{source}: bmap format version {version} is not supported (up to {SupportedMajorVersion}.x is)") { Path = source };
        }

        var imageSize = Number(root, "ImageSize", source);
        var blockSize = Number(root, "BlockSize", source);
        var blocksCount = Number(root, "BlocksCount", source);
        var mappedBlocksCount = Number(root, "MappedBlocksCount", source);
        if (blockSize is <= 0 or > int.MaxValue)
        {
            throw Corrupt(source, $"<BlockSize> {blockSize} is not a usable block size");
        }
        var expectedBlocks = (imageSize + blockSize - 1) / blockSize;
        if (blocksCount != expectedBlocks)
        {
            throw Corrupt(source,
                $"<BlocksCount> is {blocksCount} but {imageSize} bytes in {blockSize}-byte blocks make {expectedBlocks}");
        }

        string? checksumType;
        string? rangeAttribute;
        string? fileChecksumElement;
        if (major >= 2 || (major == 1 && minor >= 4))
        {
            checksumType = Text(root, "ChecksumType", source).ToLowerInvariant();
            rangeAttribute = "chksum";
            fileChecksumElement = "BmapFileChecksum";
        }
        else if (major == 1 && minor == 3)
        {
            checksumType = BmapChecksum.Sha1;
            rangeAttribute = "sha1";
            fileChecksumElement = "BmapFileSHA1";
        }
        else
        {
            checksumType = null;
            rangeAttribute = null;
            fileChecksumElement = null;
        }

        if (checksumType != null && fileChecksumElement != null)
        {
            if (!BmapChecksum.IsSupported(checksumType))
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"{source}: checksum type \"{checksumType}\" is not supported") { Path = source };
            }
            VerifyFileChecksum(content, Text(root, fileChecksumElement, source), checksumType, fileChecksumElement, source);
        }

        var blockMapElement = root.Element("BlockMap") ?? throw Corrupt(source, "no <BlockMap> element");
        var ranges = new List<BmapRange>();
        foreach (var element in blockMapElement.Elements("Range"))
        {
            var text = element.Value.Trim();
            var line = ((IXmlLineInfo)element).LineNumber;
            var parts = text.Split('-', 2);
            if (!long.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var first) ||
                (parts.Length == 2 && !long.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                throw Corrupt(source, $"line {line}: range \"{text}\" is not \"first-last\" or \"block\"");
            }
            var last = parts.Length == 2 ? long.Parse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture) : first;
            if (first > last)
            {
                throw Corrupt(source, $"line {line}: range \"{text}\" ends before it starts");
            }
            var checksum = rangeAttribute != null ? ((string?)element.Attribute(rangeAttribute))?.Trim().ToLowerInvariant() : null;
            ranges.Add(new BmapRange(first, last, checksum));
        }

        var map = new BlockMap(imageSize, (int)blockSize, ranges, checksumType, version, source);
        if (map.MappedBlocksCount != mappedBlocksCount)
        {
            throw Corrupt(source,
                $"<MappedBlocksCount> is {mappedBlocksCount} but the ranges hold {map.MappedBlocksCount} blocks; the bmap is damaged");
        }
        return map;
    }

    /// <summary>
    /// bmaptool's rule: the stored digits, replaced where they first occur in the raw file by as many '0's,
    /// must give the same checksum over the whole file.
    /// </summary>
    private static void VerifyFileChecksum(byte[] content, string stored, string checksumType, string element, string source)
    {
        stored = stored.Trim();
        var expectedLength = BmapChecksum.HexLength(checksumType);
        if (stored.Length != expectedLength || !stored.All(char.IsAsciiHexDigit))
        {
            throw Corrupt(source, $"<{element}> \"{stored}\" is not {expectedLength} hex digits of {checksumType}");
        }
        var digits = Encoding.ASCII.GetBytes(stored);
        var at = content.AsSpan().IndexOf(digits);
        if (at < 0)
        {
            throw Corrupt(source, $"<{element}> is not written out literally in the file (entities or CDATA), so it cannot be checked");
        }
        var zeroed = (byte[])content.Clone();
        zeroed.AsSpan(at, digits.Length).Fill((byte)'0');
        var computed = BmapChecksum.Compute(checksumType, zeroed);
        if (!string.Equals(computed, stored, StringComparison.OrdinalIgnoreCase))
        {
            throw new ImageToolsException(ErrorKind.ChecksumMismatch,
                $"{source}: the bmap file's own {BmapChecksum.DisplayName(checksumType)} is {computed}, but <{element}> says {stored}: " +
                "the file was changed or damaged after it was written") { Path = source };
        }
    }

    private static (int Major, int Minor) ParseVersion(string version, string source)
    {
        var parts = version.Split('.');
        if (parts.Length < 2 ||
            !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major) ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            throw Corrupt(source, $"version \"{version}\" is not \"major.minor\"");
        }
        return (major, minor);
    }

    private static string Text(XElement root, string name, string source) =>
        root.Element(name)?.Value.Trim() ?? throw Corrupt(source, $"no <{name}> element");

    private static long Number(XElement root, string name, string source)
    {
        var text = Text(root, name, source);
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw Corrupt(source, $"<{name}> \"{text}\" is not a number");
    }

    private static ImageToolsException Corrupt(string source, string message) =>
        new(ErrorKind.CorruptImage, $"{source}: {message}") { Path = source };
}
