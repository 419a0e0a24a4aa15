using System.Globalization;
using System.Text.Json;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// The short way for an event that a client sent exactly as the Api would write it (the model's fields in the
/// model's order, no whitespace between tokens, nothing the writer escapes), which is what <c>JSON.stringify</c> of
/// the seed's events gives: it is checked by FME's rules on the reader's tokens and stored as sent, with
/// <c>receivedAt</c> added, so no document is built and nothing is decoded or written again. Anything else, and
/// anything it could refuse, takes the full reader, which alone words the errors; the lines are the same bytes
/// either way (the tests hold them to it).
/// </summary>
public static partial class TrackEventReader
{
    private static readonly JsonReaderOptions AsSentOptions = new() { MaxDepth = BatchOptions.MaxDepth };

    /// <summary>The most properties the short way checks for duplicate names, pair by pair; more take the full reader.</summary>
    private const int AsSentMaxProperties = 32;

    /// <summary>What ends each line stored as sent: <c>,"receivedAt":"…"}</c>, the same for every event of a request.</summary>
    internal static byte[] ReceivedAtEnding(DateTimeOffset receivedAt)
    {
        Span<byte> time = stackalloc byte[32];
        receivedAt.UtcDateTime.TryFormat(time, out var length, IsoMillisecondsConverter.Format, CultureInfo.InvariantCulture);
        return [.. ",\"receivedAt\":\""u8, .. time[..length], .. "\"}"u8];
    }

    /// <summary>
    /// The one event that <paramref name="json"/> holds, stored as sent; null when it must take the full reader.
    /// </summary>
    internal static byte[]? TryOneAsSent(ReadOnlySpan<byte> json, byte[] ending)
    {
        var reader = new Utf8JsonReader(json, AsSentOptions);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            var line = TryAsSent(ref reader, json, ending);
            // Only whitespace may follow the event; the reader throws on anything else.
            return line is not null && !reader.Read() ? line : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// From the reader at an event's <c>{</c>: its line when it can be stored as sent (the reader is then at its
    /// <c>}</c>), or null, the reader somewhere inside it.
    /// </summary>
    private static byte[]? TryAsSent(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, byte[] ending)
    {
        var start = (int)reader.TokenStartIndex;
        // The model's fields in its order: trafficType, name, then key, value, properties, timestamp, each optional.
        var next = 0;
        var seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = FieldOrder(reader.ValueSpan);
            if (field < next)
            {
                return null; // out of order, a duplicate, or not a model field
            }
            next = field + 1;
            seen |= 1 << field;
            if (!reader.Read() || !IsValidAsSent(field, ref reader, json))
            {
                return null;
            }
        }
        if ((seen & 0b11) != 0b11 || reader.TokenType != JsonTokenType.EndObject)
        {
            return null; // no trafficType or no name: the full reader fills in the default or refuses
        }

        var end = (int)reader.BytesConsumed;
        var raw = json[start..end];
        if (!TrackEvent.IsWrittenAsIs(raw))
        {
            return null;
        }
        var line = new byte[raw.Length - 1 + ending.Length];
        raw[..^1].CopyTo(line);
        ending.CopyTo(line.AsSpan(raw.Length - 1));
        return line;
    }

    /// <summary>The field's place in the model's order; -1 for anything else.</summary>
    private static int FieldOrder(ReadOnlySpan<byte> name) => name switch
    {
        _ when name.SequenceEqual("trafficType"u8) => 0,
        _ when name.SequenceEqual("name"u8) => 1,
        _ when name.SequenceEqual("key"u8) => 2,
        _ when name.SequenceEqual("value"u8) => 3,
        _ when name.SequenceEqual("properties"u8) => 4,
        _ when name.SequenceEqual("timestamp"u8) => 5,
        _ => -1,
    };

    /// <summary>Whether the value under the reader is valid and written as it stands; the reader ends on its last token.</summary>
    private static bool IsValidAsSent(int field, ref Utf8JsonReader reader, ReadOnlySpan<byte> json)
    {
        var token = reader.TokenType;
        var text = reader.ValueSpan;
        switch (field)
        {
            case 0:
                // Lower case already (the full reader lowers it), and not blank.
                return token == JsonTokenType.String && text.IndexOfAnyExcept((byte)' ') >= 0 && !text.ContainsAnyInRange((byte)'A', (byte)'Z');
            case 1:
                return token == JsonTokenType.String && IsEventType(text);
            case 2:
                // Nothing to trim (only the space can be, in what is written as it stands), and FME's length limit.
                return token == JsonTokenType.String && text.Length is > 0 and <= MaxKeyLength && text[0] != ' ' && text[^1] != ' ';
            case 3:
                return token == JsonTokenType.Null || (token == JsonTokenType.Number && reader.TryGetDouble(out var number) && double.IsFinite(number));
            case 4:
                return token == JsonTokenType.Null || (token == JsonTokenType.StartObject && ArePropertiesValid(ref reader, json));
            case 5:
                // Kept as sent; a nested value would need its duplicate names checked.
                return token is not (JsonTokenType.StartObject or JsonTokenType.StartArray);
            default:
                return false;
        }
    }

    /// <summary>FME's event type rule (<see cref="EventTypePatternText"/>), on ASCII bytes.</summary>
    private static bool IsEventType(ReadOnlySpan<byte> text) =>
        text.Length is > 0 and <= 80 && char.IsAsciiLetterOrDigit((char)text[0])
        && text.IndexOfAnyExcept(EventTypeCharacters) < 0;

    private static readonly System.Buffers.SearchValues<byte> EventTypeCharacters =
        System.Buffers.SearchValues.Create("-_.:0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>
    /// FME's limits on properties (<see cref="CheckProperties"/>), for properties whose names and strings are ASCII (so
    /// a byte is a UTF-16 character), and no name twice; the reader ends on the object's <c>}</c>.
    /// </summary>
    private static bool ArePropertiesValid(ref Utf8JsonReader reader, ReadOnlySpan<byte> json)
    {
        Span<Range> names = stackalloc Range[AsSentMaxProperties];
        var count = 0;
        var size = FmeSize.Event;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (count == AsSentMaxProperties)
            {
                return false;
            }
            var name = reader.ValueSpan;
            foreach (var earlier in names[..count])
            {
                if (name.SequenceEqual(json[earlier]))
                {
                    return false;
                }
            }
            var at = (int)reader.TokenStartIndex + 1; // past the opening quote
            names[count++] = new Range(at, at + name.Length);
            size += FmeSize.Text(name.Length);
            if (!reader.Read())
            {
                return false;
            }
            switch (reader.TokenType)
            {
                case JsonTokenType.String:
                    size += FmeSize.Text(reader.ValueSpan.Length);
                    break;
                case JsonTokenType.Number:
                    size += FmeSize.Number;
                    break;
                case JsonTokenType.True or JsonTokenType.False:
                    size += FmeSize.Boolean;
                    break;
                case JsonTokenType.Null:
                    break;
                default:
                    return false;
            }
        }
        return reader.TokenType == JsonTokenType.EndObject && size <= MaxPropertiesBytes;
    }
}
