using System.Globalization;
using System.IO.Compression;
using Microsoft.Extensions.Configuration;

namespace TrackMulti.Api.Model;

/// <summary>
/// How objects are laid out in the bucket, for engines that prune by prefix and read compressed data (Athena): the
/// partition a row's <c>receivedAt</c> puts it in, and the encoding of the object. One setting for every stream.
/// </summary>
public sealed class ObjectLayout
{
    /// <summary><c>S3_PARTITIONING</c>: <c>none</c> (the seed's flat keys), <c>daily</c> or <c>hourly</c>, by <c>receivedAt</c> in UTC.</summary>
    [ConfigurationKeyName("S3_PARTITIONING")]
    public Partitioning Partitioning { get; set; } = Partitioning.None;

    /// <summary><c>S3_COMPRESSION</c>: <c>none</c> or <c>gzip</c> (keys end <c>.ndjson.gz</c>, <c>Content-Encoding: gzip</c>).</summary>
    [ConfigurationKeyName("S3_COMPRESSION")]
    public Compression Compression { get; set; } = Compression.None;

    public const string GzipExtension = ".gz";

    /// <summary>The partition path of a row received at <paramref name="receivedAt"/>: "", <c>dt=…/</c> or <c>dt=…/hour=…/</c>.</summary>
    public string PartitionOf(DateTimeOffset receivedAt)
    {
        var utc = receivedAt.UtcDateTime;
        return Partitioning switch
        {
            Partitioning.Daily => string.Create(CultureInfo.InvariantCulture, $"dt={utc:yyyy-MM-dd}/"),
            Partitioning.Hourly => string.Create(CultureInfo.InvariantCulture, $"dt={utc:yyyy-MM-dd}/hour={utc:HH}/"),
            _ => "",
        };
    }

    public string Extension => Compression == Compression.Gzip ? BatchKey.Extension + GzipExtension : BatchKey.Extension;

    /// <summary>Whether the object under <paramref name="key"/> is gzip (the key says so, so readers need no setting).</summary>
    public static bool IsGzip(string key) => key.EndsWith(GzipExtension, StringComparison.Ordinal);

    /// <summary>Writes the object for <paramref name="key"/> from its NDJSON: the same bytes for the same input, every time.</summary>
    public static void Encode(string key, Stream ndjson, Stream destination)
    {
        if (!IsGzip(key))
        {
            ndjson.CopyTo(destination);
            return;
        }
        // No file name or time in the gzip header (.NET writes none), so a seal redone by recovery gives the same object.
        using var gzip = new GZipStream(destination, CompressionLevel.Optimal, leaveOpen: true);
        ndjson.CopyTo(gzip);
    }

    /// <summary>The NDJSON inside the object stored under <paramref name="key"/>.</summary>
    public static Stream OpenNdjson(string key, Stream content) =>
        IsGzip(key) ? new GZipStream(content, CompressionMode.Decompress) : content;
}

public enum Partitioning
{
    None,
    Daily,
    Hourly,
}

public enum Compression
{
    None,
    Gzip,
}
