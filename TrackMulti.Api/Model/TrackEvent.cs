using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TrackMulti.Api.Model;

/// <summary>
/// The one event model: what a client tracked plus when the Api received it. It is written to S3 as
/// one NDJSON line in the seed's shape: the received fields, then <c>receivedAt</c>. Events the FME SDK posted are
/// the same rows (<c>eventTypeId</c> as <c>name</c>, <c>trafficTypeName</c> as <c>trafficType</c>).
/// </summary>
public sealed record TrackEvent
{
    public const string DefaultTrafficType = "user";

    [JsonPropertyOrder(0)]
    public required string TrafficType { get; init; }

    [JsonPropertyOrder(1)]
    public required string Name { get; init; }

    /// <summary>The FME user key, when the client sends one (the seed never did).</summary>
    [JsonPropertyOrder(2)]
    public string? Key { get; init; }

    /// <summary>The value exactly as received: a JSON number, or an explicit null (absent when the client sent none).</summary>
    [JsonPropertyOrder(3)]
    public JsonElement? Value { get; init; }

    /// <summary>The event's properties object (or an explicit null), as received.</summary>
    [JsonPropertyOrder(4)]
    public JsonElement? Properties { get; init; }

    /// <summary>The value as FME takes it: a number, or null.</summary>
    [JsonIgnore]
    public double? NumericValue => Value is { ValueKind: JsonValueKind.Number } number ? number.GetDouble() : null;

    /// <summary>
    /// When the event happened by the client's clock, as received: the FME SDK's milliseconds since the epoch, or
    /// whatever a <c>/api/track</c> client sent at the top level.
    /// </summary>
    [JsonPropertyOrder(5)]
    public JsonElement? Timestamp { get; init; }

    [JsonPropertyOrder(6)]
    [JsonConverter(typeof(IsoMillisecondsConverter))]
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>Top-level fields the model does not name: kept as received, written after <c>receivedAt</c>.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? OtherFields { get; set; }

    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <summary>
    /// The NDJSON line for this event, without the trailing newline. Written by hand, on the request path, exactly as
    /// the serializer writes the model (the tests hold them to the same bytes), with a writer reused per thread.
    /// </summary>
    public byte[] ToJsonLine()
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer);
        writer.Reset(buffer);

        writer.WriteStartObject();
        writer.WriteString("trafficType"u8, TrafficType);
        writer.WriteString("name"u8, Name);
        if (Key is not null)
        {
            writer.WriteString("key"u8, Key);
        }
        if (Value is { } value)
        {
            writer.WritePropertyName("value"u8);
            WriteValue(writer, value);
        }
        if (Properties is { } properties)
        {
            writer.WritePropertyName("properties"u8);
            WriteValue(writer, properties);
        }
        if (Timestamp is { } timestamp)
        {
            writer.WritePropertyName("timestamp"u8);
            WriteValue(writer, timestamp);
        }
        Span<byte> receivedAt = stackalloc byte[32];
        ReceivedAt.UtcDateTime.TryFormat(receivedAt, out var length, IsoMillisecondsConverter.Format, CultureInfo.InvariantCulture);
        writer.WriteString("receivedAt"u8, receivedAt[..length]);
        foreach (var (name, other) in OtherFields ?? [])
        {
            writer.WritePropertyName(name);
            WriteValue(writer, other);
        }
        writer.WriteEndObject();
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Writes a value as <see cref="JsonElement.WriteTo"/> does. When its raw text is already what that would write
    /// (no whitespace between tokens, nothing the writer escapes), it is copied as it is, which costs far less.
    /// </summary>
    private static void WriteValue(Utf8JsonWriter writer, JsonElement value)
    {
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (IsWrittenAsIs(raw))
        {
            writer.WriteRawValue(raw, skipInputValidation: true);
        }
        else
        {
            value.WriteTo(writer);
        }
    }

    /// <summary>
    /// Printable ASCII that the default encoder leaves alone: no control characters or whitespace but the space, no
    /// escapes, none of the HTML-sensitive characters it escapes, nothing beyond ASCII.
    /// </summary>
    private static readonly SearchValues<byte> WrittenAsIs = SearchValues.Create(
        " !#$%()*,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~\""u8);

    internal static bool IsWrittenAsIs(ReadOnlySpan<byte> raw)
    {
        if (raw.IndexOfAnyExcept(WrittenAsIs) >= 0)
        {
            return false;
        }
        // A space is kept inside a string and dropped between tokens; with no escapes, every quote opens or closes a
        // string, so a space is inside one when an odd number of quotes comes before it.
        var quotes = 0;
        var from = 0;
        while (raw[from..].IndexOf((byte)' ') is var offset and >= 0)
        {
            quotes += raw.Slice(from, offset).Count((byte)'"');
            if (quotes % 2 == 0)
            {
                return false;
            }
            from += offset + 1;
        }
        return true;
    }

    public static TrackEvent FromJsonLine(ReadOnlySpan<byte> line) =>
        JsonSerializer.Deserialize(line, RowJsonContext.Default.TrackEvent)
        ?? throw new JsonException("An NDJSON line held null instead of an event.");
}

/// <summary>Writes times like JavaScript's <c>Date.toISOString()</c>, as the seed did: <c>2025-10-24T10:30:15.456Z</c>.</summary>
public sealed class IsoMillisecondsConverter : JsonConverter<DateTimeOffset>
{
    public const string Format = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString(Format, CultureInfo.InvariantCulture));
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TrackEvent))]
[JsonSerializable(typeof(Impression))]
[JsonSerializable(typeof(ImpressionCount))]
[JsonSerializable(typeof(Dictionary<string, JsonElement>))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(double))]
internal sealed partial class RowJsonContext : JsonSerializerContext;
