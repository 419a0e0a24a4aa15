using System.Text.Json;
using System.Text.Json.Serialization;

namespace TrackMulti.Api.Model;

/// <summary>
/// One impression: which treatment of a flag the FME SDK gave a key, and when. One NDJSON row each under
/// <c>impressions/</c>, the SDK's short names spelled out; <c>receivedAt</c> is the server's.
/// </summary>
public sealed record Impression
{
    /// <summary>The flag (the SDK's <c>f</c>).</summary>
    [JsonPropertyOrder(0)]
    public required string Feature { get; init; }

    [JsonPropertyOrder(1)]
    public required string Key { get; init; }

    [JsonPropertyOrder(2)]
    public required string Treatment { get; init; }

    /// <summary>When the SDK evaluated the flag, milliseconds since the epoch (<c>m</c>).</summary>
    [JsonPropertyOrder(3)]
    public required long Time { get; init; }

    /// <summary>The flag definition's version the treatment came from (<c>c</c>).</summary>
    [JsonPropertyOrder(4)]
    public required long ChangeNumber { get; init; }

    /// <summary>The rule that decided (<c>r</c>); absent when the SDK sends no labels.</summary>
    [JsonPropertyOrder(5)]
    public string? Label { get; init; }

    [JsonPropertyOrder(6)]
    public string? BucketingKey { get; init; }

    /// <summary>When the SDK last saw the same impression (<c>pt</c>, its OPTIMIZED mode).</summary>
    [JsonPropertyOrder(7)]
    public long? PreviousTime { get; init; }

    [JsonPropertyOrder(8)]
    [JsonConverter(typeof(IsoMillisecondsConverter))]
    public required DateTimeOffset ReceivedAt { get; init; }

    public byte[] ToJsonLine() => JsonSerializer.SerializeToUtf8Bytes(this, RowJsonContext.Default.Impression);

    public static Impression FromJsonLine(ReadOnlySpan<byte> line) =>
        JsonSerializer.Deserialize(line, RowJsonContext.Default.Impression)
        ?? throw new JsonException("An NDJSON line held null instead of an impression.");
}

/// <summary>
/// How many impressions of a flag the FME SDK left out of its posts in one hour (its OPTIMIZED mode sends each
/// distinct impression once an hour and counts the rest). One row each under <c>impression-counts/</c>.
/// </summary>
public sealed record ImpressionCount
{
    [JsonPropertyOrder(0)]
    public required string Feature { get; init; }

    /// <summary>The hour counted, milliseconds since the epoch (<c>m</c>).</summary>
    [JsonPropertyOrder(1)]
    public required long TimeFrame { get; init; }

    /// <summary>The count (<c>rc</c>).</summary>
    [JsonPropertyOrder(2)]
    public required long Count { get; init; }

    [JsonPropertyOrder(3)]
    [JsonConverter(typeof(IsoMillisecondsConverter))]
    public required DateTimeOffset ReceivedAt { get; init; }

    public byte[] ToJsonLine() => JsonSerializer.SerializeToUtf8Bytes(this, RowJsonContext.Default.ImpressionCount);

    public static ImpressionCount FromJsonLine(ReadOnlySpan<byte> line) =>
        JsonSerializer.Deserialize(line, RowJsonContext.Default.ImpressionCount)
        ?? throw new JsonException("An NDJSON line held null instead of an impression count.");
}
