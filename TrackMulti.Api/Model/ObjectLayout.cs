using System.Globalization;
using System.IO.Compression;
using Microsoft.Extensions.Configuration;

namespace TrackMulti.Api.Model;

/// <summary>
/// How objects are laid out in the bucket, for engines that prune by prefix and read compressed data (Athena): the
/// partition a row's <c>receivedAt</c> puts it in, and the object's format and encoding. One setting for every stream.
/// </summary>
public sealed class ObjectLayout
{
    /// <summary><c>S3_PARTITIONING</c>: <c>none</c> (the seed's flat keys), <c>daily</c> or <c>hourly</c>, by <c>receivedAt</c> in UTC.</summary>
    [ConfigurationKeyName("S3_PARTITIONING")]
    public Partitioning Partitioning { get; set; } = Partitioning.None;

    /// <summary><c>S3_COMPRESSION</c>: <c>none</c> or <c>gzip</c> (keys end <c>.ndjson.gz</c>, <c>Content-Encoding: gzip</c>).</summary>
    [ConfigurationKeyName("S3_COMPRESSION")]
    public Compression Compression { get; set; } = Compression.None;

    /// <summary><c>S3_FORMAT</c>: <c>ndjson</c> or <c>parquet</c> (keys end <c>.parquet</c>; Snappy inside, so no <c>S3_COMPRESSION</c>).</summary>
    [ConfigurationKeyName("S3_FORMAT")]
    public ObjectFormat Format { get; set; } = ObjectFormat.Ndjson;

    public const string GzipExtension = ".gz";
    public const string ParquetExtension = ".parquet";
    public const string ParquetContentType = "application/vnd.apache.parquet";

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

    public string Extension => Format == ObjectFormat.Parquet ? ParquetExtension
        : Compression == Compression.Gzip ? BatchKey.Extension + GzipExtension
        : BatchKey.Extension;

    /// <summary>Whether the object under <paramref name="key"/> is gzip (the key says so, so readers need no setting).</summary>
    public static bool IsGzip(string key) => key.EndsWith(GzipExtension, StringComparison.Ordinal);

    public static bool IsParquet(string key) => key.EndsWith(ParquetExtension, StringComparison.Ordinal);

    /// <summary>Whether the object differs from the batch's NDJSON, so sealing writes it anew instead of renaming.</summary>
    public static bool IsEncoded(string key) => IsGzip(key) || IsParquet(key);

    /// <summary>Writes the object for <paramref name="key"/> from its NDJSON: the same bytes for the same input, every time.</summary>
    public static void Encode(string key, string stream, Stream ndjson, Stream destination)
    {
        if (IsParquet(key))
        {
            ParquetRows.Encode(stream, ndjson, destination);
        }
        else if (IsGzip(key))
        {
            // No file name or time in the gzip header (.NET writes none), so an upload redone after a restart sends the same object.
            using var gzip = new GZipStream(destination, CompressionLevel.Optimal, leaveOpen: true);
            ndjson.CopyTo(gzip);
        }
        else
        {
            ndjson.CopyTo(destination);
        }
    }

    /// <summary>The NDJSON inside the object stored under <paramref name="key"/> (rows of <paramref name="stream"/>).</summary>
    public static Stream OpenNdjson(string key, string stream, Stream content) =>
        IsParquet(key) ? ParquetRows.Decode(stream, content)
        : IsGzip(key) ? new GZipStream(content, CompressionMode.Decompress)
        : content;
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

public enum ObjectFormat
{
    Ndjson,
    Parquet,
}

/// <summary>Parquet compresses inside the file; gzip around it would only hide it from query engines.</summary>
public sealed class ObjectLayoutValidator : Microsoft.Extensions.Options.IValidateOptions<ObjectLayout>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, ObjectLayout options) =>
        options is { Format: ObjectFormat.Parquet, Compression: Compression.Gzip }
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Fail("S3_COMPRESSION=gzip does not go with S3_FORMAT=parquet: Parquet objects are compressed inside (Snappy).")
            : Microsoft.Extensions.Options.ValidateOptionsResult.Success;
}
