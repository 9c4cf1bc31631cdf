using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ImageTools.Core.Sbom;

/// <summary>The two SBOM formats fsmaker writes.</summary>
public enum SbomFormat
{
    /// <summary>CycloneDX 1.5 JSON (cyclonedx.org/docs/1.5/json).</summary>
    CycloneDx,

    /// <summary>SPDX 2.3 JSON (spdx.github.io/spdx-spec/v2.3).</summary>
    Spdx,
}

/// <summary>
/// Writes an <see cref="SbomInventory"/> as CycloneDX 1.5 or SPDX 2.3 JSON with <see cref="Utf8JsonWriter"/> (no
/// reflection: Native AOT). The image is the root component (CycloneDX metadata.component, SPDX's described
/// package) with its SHA-256; each package and kernel is a component it depends on (CONTAINS in SPDX).
/// </summary>
public static class SbomWriter
{
    private const string RootRef = "image";

    public static void Write(SbomInventory inventory, SbomFormat format, Stream output, string toolVersion, DateTimeOffset created)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        if (format == SbomFormat.Spdx)
        {
            WriteSpdx(inventory, json, toolVersion, created);
        }
        else
        {
            WriteCycloneDx(inventory, json, toolVersion, created);
        }
        json.Flush();
        output.WriteByte((byte)'\n');
    }

    private static string SubjectName(SbomInventory inventory) => Path.GetFileName(inventory.Subject.TrimEnd('/')) is { Length: > 0 } n ? n : inventory.Subject;

    /// <summary>A UUID from the content and time, so that the same input at the same SOURCE_DATE_EPOCH gives the same document.</summary>
    private static Guid StableId(SbomInventory inventory, DateTimeOffset created)
    {
        var text = new StringBuilder().Append(inventory.Subject).Append('\n').Append(inventory.Sha256).Append('\n').Append(created.ToUnixTimeSeconds());
        foreach (var p in inventory.Packages)
        {
            text.Append('\n').Append(p.Purl);
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
        // RFC 9562 version 8 (custom) layout: set version and variant bits.
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    private static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static void WriteCycloneDx(SbomInventory inventory, Utf8JsonWriter json, string toolVersion, DateTimeOffset created)
    {
        json.WriteStartObject();
        json.WriteString("bomFormat", "CycloneDX");
        json.WriteString("specVersion", "1.5");
        json.WriteString("serialNumber", "urn:uuid:" + StableId(inventory, created).ToString("D"));
        json.WriteNumber("version", 1);
        json.WriteStartObject("metadata");
        json.WriteString("timestamp", Timestamp(created));
        json.WriteStartObject("tools");
        json.WriteStartArray("components");
        json.WriteStartObject();
        json.WriteString("type", "application");
        json.WriteString("name", "fsmaker");
        json.WriteString("version", toolVersion);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteStartObject("component");
        json.WriteString("bom-ref", RootRef);
        json.WriteString("type", "operating-system");
        json.WriteString("name", SubjectName(inventory));
        if (inventory.Os?.VersionId is { } osVersion)
        {
            json.WriteString("version", osVersion);
        }
        if (inventory.Os?.PrettyName is { } pretty)
        {
            json.WriteString("description", pretty);
        }
        if (inventory.Sha256 is { } sha)
        {
            WriteCycloneDxHash(json, sha);
        }
        json.WriteStartArray("properties");
        WriteProperty(json, "imagetools:source", inventory.SubjectKind);
        foreach (var source in inventory.Sources)
        {
            WriteProperty(json, "imagetools:package-database", source);
        }
        if (inventory.Os != null)
        {
            WriteProperty(json, "imagetools:distro", inventory.Os.Distro);
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();

        var refs = new List<string>();
        json.WriteStartArray("components");
        foreach (var p in inventory.Packages)
        {
            json.WriteStartObject();
            json.WriteString("bom-ref", p.Purl);
            refs.Add(p.Purl);
            json.WriteString("type", "library");
            json.WriteString("name", p.Name);
            json.WriteString("version", p.Version);
            json.WriteString("purl", p.Purl);
            if (p.Licenses.Count > 0)
            {
                json.WriteStartArray("licenses");
                foreach (var license in p.Licenses)
                {
                    json.WriteStartObject();
                    json.WriteStartObject("license");
                    json.WriteString("name", license);
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteStartArray("properties");
            WriteProperty(json, "imagetools:package-type", p.Type);
            if (p.Architecture != null)
            {
                WriteProperty(json, "imagetools:architecture", p.Architecture);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        foreach (var k in inventory.Kernels)
        {
            var bomRef = "kernel:/boot/" + k.Name;
            refs.Add(bomRef);
            json.WriteStartObject();
            json.WriteString("bom-ref", bomRef);
            json.WriteString("type", "file");
            json.WriteString("name", "/boot/" + k.Name);
            json.WriteString("version", k.Release);
            json.WriteString("description", "Linux kernel");
            WriteCycloneDxHash(json, k.Sha256);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteStartArray("dependencies");
        json.WriteStartObject();
        json.WriteString("ref", RootRef);
        json.WriteStartArray("dependsOn");
        foreach (var r in refs)
        {
            json.WriteStringValue(r);
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteCycloneDxHash(Utf8JsonWriter json, string sha256)
    {
        json.WriteStartArray("hashes");
        json.WriteStartObject();
        json.WriteString("alg", "SHA-256");
        json.WriteString("content", sha256);
        json.WriteEndObject();
        json.WriteEndArray();
    }

    private static void WriteProperty(Utf8JsonWriter json, string name, string value)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("value", value);
        json.WriteEndObject();
    }

    private static void WriteSpdx(SbomInventory inventory, Utf8JsonWriter json, string toolVersion, DateTimeOffset created)
    {
        var name = SubjectName(inventory);
        json.WriteStartObject();
        json.WriteString("spdxVersion", "SPDX-2.3");
        json.WriteString("dataLicense", "CC0-1.0");
        json.WriteString("SPDXID", "SPDXRef-DOCUMENT");
        json.WriteString("name", name);
        json.WriteString("documentNamespace", $"https://spdx.org/spdxdocs/fsmaker-{Uri.EscapeDataString(name)}-{StableId(inventory, created):D}");
        json.WriteStartObject("creationInfo");
        json.WriteString("created", Timestamp(created));
        json.WriteStartArray("creators");
        json.WriteStringValue("Tool: fsmaker-" + toolVersion);
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteStartArray("documentDescribes");
        json.WriteStringValue("SPDXRef-image");
        json.WriteEndArray();

        var ids = new List<string>();
        json.WriteStartArray("packages");
        json.WriteStartObject();
        json.WriteString("SPDXID", "SPDXRef-image");
        json.WriteString("name", name);
        if (inventory.Os?.VersionId is { } osVersion)
        {
            json.WriteString("versionInfo", osVersion);
        }
        json.WriteString("primaryPackagePurpose", "OPERATING-SYSTEM");
        WriteSpdxNoAssertions(json);
        if (inventory.Sha256 is { } sha)
        {
            WriteSpdxChecksum(json, sha);
        }
        json.WriteString("comment", $"{inventory.SubjectKind}; {(inventory.Os?.PrettyName ?? "unknown distribution")}; package databases: {(inventory.Sources.Count > 0 ? string.Join(", ", inventory.Sources) : "none")}");
        json.WriteEndObject();
        var index = 0;
        foreach (var p in inventory.Packages)
        {
            var id = $"SPDXRef-Package-{p.Type}-{++index}";
            ids.Add(id);
            json.WriteStartObject();
            json.WriteString("SPDXID", id);
            json.WriteString("name", p.Name);
            json.WriteString("versionInfo", p.Version);
            json.WriteString("primaryPackagePurpose", "LIBRARY");
            WriteSpdxNoAssertions(json);
            if (p.Licenses.Count > 0)
            {
                // Debian's short names (GPL-2+, BSD-3-clause) are not all SPDX identifiers, so they are a comment, not a declaration.
                json.WriteString("licenseComments", "as the package declares it: " + string.Join("; ", p.Licenses));
            }
            if (p.Architecture != null)
            {
                json.WriteString("comment", "architecture " + p.Architecture);
            }
            json.WriteStartArray("externalRefs");
            json.WriteStartObject();
            json.WriteString("referenceCategory", "PACKAGE-MANAGER");
            json.WriteString("referenceType", "purl");
            json.WriteString("referenceLocator", p.Purl);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }
        foreach (var k in inventory.Kernels)
        {
            var id = $"SPDXRef-Kernel-{++index}";
            ids.Add(id);
            json.WriteStartObject();
            json.WriteString("SPDXID", id);
            json.WriteString("name", "/boot/" + k.Name);
            json.WriteString("versionInfo", k.Release);
            json.WriteString("primaryPackagePurpose", "OPERATING-SYSTEM");
            WriteSpdxNoAssertions(json);
            WriteSpdxChecksum(json, k.Sha256);
            json.WriteString("comment", "Linux kernel");
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteStartArray("relationships");
        WriteRelationship(json, "SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-image");
        foreach (var id in ids)
        {
            WriteRelationship(json, "SPDXRef-image", "CONTAINS", id);
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteSpdxNoAssertions(Utf8JsonWriter json)
    {
        json.WriteString("downloadLocation", "NOASSERTION");
        json.WriteBoolean("filesAnalyzed", false);
        json.WriteString("licenseConcluded", "NOASSERTION");
        json.WriteString("licenseDeclared", "NOASSERTION");
        json.WriteString("copyrightText", "NOASSERTION");
    }

    private static void WriteSpdxChecksum(Utf8JsonWriter json, string sha256)
    {
        json.WriteStartArray("checksums");
        json.WriteStartObject();
        json.WriteString("algorithm", "SHA256");
        json.WriteString("checksumValue", sha256);
        json.WriteEndObject();
        json.WriteEndArray();
    }

    private static void WriteRelationship(Utf8JsonWriter json, string element, string type, string related)
    {
        json.WriteStartObject();
        json.WriteString("spdxElementId", element);
        json.WriteString("relationshipType", type);
        json.WriteString("relatedSpdxElement", related);
        json.WriteEndObject();
    }
}
