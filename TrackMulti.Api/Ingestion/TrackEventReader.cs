using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// Turns a request body into a <see cref="TrackEvent"/>, or into the list of what is wrong with it, field by field,
/// by the rules the FME SDKs apply to <c>track()</c>, so S3 never holds an event FME would have refused.
/// Nothing is stored unless this succeeds. Top-level fields the model does not name are kept as sent, except
/// <c>receivedAt</c>, which is the server's.
/// </summary>
public static partial class TrackEventReader
{
    public const int MaxKeyLength = 250;
    public const int MaxProperties = 300;
    public const int MaxPropertiesBytes = 32 * 1024;

    /// <summary>The FME SDK's events carry their time: milliseconds since the epoch, a whole number from this on.</summary>
    public const long MinTimestamp = 1;

    /// <summary>An event's name (FME's event type). \z, not $: in .NET, $ also matches before a final newline, which FME's pattern does not allow.</summary>
    public const string EventTypePatternText = @"^[a-zA-Z0-9][-_.:a-zA-Z0-9]{0,79}\z";

    private static readonly string[] ModelFields = ["name", "trafficType", "key", "value", "properties", "timestamp", "receivedAt"];

    private static readonly JsonDocumentOptions Options = new()
    {
        MaxDepth = 32,
        // Duplicate names are refused: which of two "name" fields would FME and S3 each have kept?
        AllowDuplicateProperties = false,
    };

    /// <summary>As for one event, with one level more for the array around them.</summary>
    private static readonly JsonDocumentOptions BatchOptions = Options with { MaxDepth = Options.MaxDepth + 1 };

    public static TrackEventReadResult Read(ReadOnlySequence<byte> body, DateTimeOffset receivedAt)
    {
        // The parser checks UTF-8 only in what it decodes; fields kept as sent must be valid too, or the NDJSON is not.
        // One contiguous copy at most, which the parser then reads in place.
        using var contiguous = new ContiguousBody(body);
        var bytes = contiguous.Memory;
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            return TrackEventReadResult.Malformed("The request body is not valid UTF-8.");
        }

        return TryOneAsSent(bytes.Span, ReceivedAtEnding(receivedAt)) is { } asSent
            ? TrackEventReadResult.Stored(asSent)
            : ReadInFull(bytes, receivedAt);
    }

    /// <summary>One event (valid UTF-8) through the parsed document: every rule, every error worded.</summary>
    internal static TrackEventReadResult ReadInFull(ReadOnlyMemory<byte> bytes, DateTimeOffset receivedAt)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, Options);
        }
        catch (JsonException ex)
        {
            return TrackEventReadResult.Malformed($"The request body is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            try
            {
                return Read(document.RootElement, receivedAt, EventShape.Track).ToLine();
            }
            catch (InvalidOperationException ex)
            {
                // An escaped lone surrogate ("\uD800") is valid JSON but no text: it surfaces when a string is decoded.
                return TrackEventReadResult.Malformed($"The request body holds a string that is not valid text: {ex.Message}");
            }
        }
    }

    /// <summary>
    /// Reads a batch: a JSON array of events, or NDJSON (one event per line; empty lines are passed over). Each event
    /// obeys <see cref="Read(ReadOnlySequence{byte}, DateTimeOffset)"/>'s rules; errors are keyed by index
    /// (<c>[3].name</c>), and one invalid event refuses the whole batch.
    /// </summary>
    public static BatchReadResult ReadBatch(ReadOnlySequence<byte> body, bool ndjson, DateTimeOffset receivedAt, int maxEvents)
    {
        using var contiguous = new ContiguousBody(body);
        var bytes = contiguous.Memory;
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            return BatchReadResult.Malformed("The request body is not valid UTF-8.");
        }
        return ndjson ? ReadLines(bytes.Span, receivedAt, maxEvents) : ReadArray(bytes, receivedAt, maxEvents);
    }

    private static BatchReadResult ReadArray(ReadOnlyMemory<byte> body, DateTimeOffset receivedAt, int maxEvents)
    {
        if (TryArrayAsSent(body, receivedAt, maxEvents) is { } asSent)
        {
            return asSent;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, BatchOptions);
        }
        catch (JsonException ex)
        {
            return BatchReadResult.Malformed($"The request body is not valid JSON: {ex.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return BatchReadResult.Malformed("The request body must be a JSON array of events (or NDJSON, with 'Content-Type: application/x-ndjson').");
            }
            return ReadEvents(document.RootElement, receivedAt, maxEvents, EventShape.Track);
        }
    }

    /// <summary>
    /// A JSON array of events read in one pass, each event stored as sent where it can be and read in full where it
    /// cannot; null when the array itself needs the full reader's word (not JSON, not an array of objects, too many,
    /// duplicate names).
    /// </summary>
    private static BatchReadResult? TryArrayAsSent(ReadOnlyMemory<byte> body, DateTimeOffset receivedAt, int maxEvents)
    {
        var json = body.Span;
        var ending = ReceivedAtEnding(receivedAt);
        var reader = new Utf8JsonReader(json, AsSentOptions);
        var batch = new BatchBuilder(Math.Min(maxEvents, 128));
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                return null;
            }
            var index = 0;
            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                if (index == maxEvents)
                {
                    return null;
                }
                var start = (int)reader.TokenStartIndex;
                var probe = reader;
                if (TryAsSent(ref probe, json, ending) is { } line)
                {
                    reader = probe;
                    batch.Add(line);
                }
                else
                {
                    reader.Skip();
                    using var document = JsonDocument.Parse(body[start..(int)reader.BytesConsumed], Options);
                    batch.Add(index, ReadElement(document.RootElement, receivedAt, EventShape.Track).ToLine());
                }
                index++;
            }
            // The array's end, then nothing but whitespace (the reader throws on anything else).
            return reader.TokenType == JsonTokenType.EndArray && !reader.Read() ? batch.Result() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The events of a JSON array, each by <paramref name="shape"/>'s rules, as lines; or every error by index.</summary>
    internal static BatchReadResult ReadEvents(JsonElement events, DateTimeOffset receivedAt, int maxEvents, EventShape shape)
    {
        var count = events.GetArrayLength();
        if (count > maxEvents)
        {
            return BatchReadResult.TooMany(count);
        }
        var batch = new BatchBuilder(count);
        var index = 0;
        foreach (var element in events.EnumerateArray())
        {
            batch.Add(index++, ReadElement(element, receivedAt, shape).ToLine());
        }
        return batch.Result();
    }

    private static BatchReadResult ReadLines(ReadOnlySpan<byte> body, DateTimeOffset receivedAt, int maxEvents)
    {
        var lines = new List<Range>();
        var start = 0;
        while (start < body.Length)
        {
            var end = body[start..].IndexOf((byte)'\n') is var newline and >= 0 ? start + newline : body.Length;
            var line = body[start..end].TrimEnd((byte)'\r');
            if (line.IndexOfAnyExcept(" \t"u8) >= 0)
            {
                if (lines.Count == maxEvents)
                {
                    return BatchReadResult.TooMany(lines.Count + 1 + body[end..].Count((byte)'\n'));
                }
                lines.Add(new Range(start, start + line.Length));
            }
            start = end + 1;
        }

        var batch = new BatchBuilder(lines.Count);
        var ending = ReceivedAtEnding(receivedAt);
        for (var index = 0; index < lines.Count; index++)
        {
            if (TryOneAsSent(body[lines[index]], ending) is { } asSent)
            {
                batch.Add(asSent);
                continue;
            }
            try
            {
                using var document = JsonDocument.Parse(body[lines[index]].ToArray(), Options);
                batch.Add(index, ReadElement(document.RootElement, receivedAt, EventShape.Track).ToLine());
            }
            catch (JsonException ex)
            {
                batch.Add(index, TrackEventReadResult.Malformed($"Line {index + 1} is not valid JSON: {ex.Message}"));
            }
        }
        return batch.Result();
    }

    private static TrackEventReadResult ReadElement(JsonElement element, DateTimeOffset receivedAt, EventShape shape)
    {
        try
        {
            return Read(element, receivedAt, shape);
        }
        catch (InvalidOperationException ex)
        {
            return TrackEventReadResult.Malformed($"It holds a string that is not valid text: {ex.Message}");
        }
    }

    /// <summary>Collects a batch's events, or every error keyed by the event's index.</summary>
    private sealed class BatchBuilder(int count)
    {
        private readonly List<byte[]> _lines = new(count);
        private readonly Dictionary<string, string[]> _errors = [];

        public void Add(byte[] line) => _lines.Add(line);

        public void Add(int index, TrackEventReadResult read)
        {
            if (read.Line is { } line)
            {
                _lines.Add(line);
            }
            else if (read.MalformedReason is { } reason)
            {
                _errors[$"[{index}]"] = [reason];
            }
            foreach (var (field, messages) in read.FieldErrors ?? new Dictionary<string, string[]>())
            {
                _errors[$"[{index}].{field}"] = messages;
            }
        }

        public BatchReadResult Result() =>
            _errors.Count > 0 ? BatchReadResult.Invalid(_errors) : BatchReadResult.Rows(_lines, "The batch holds no events.");
    }

    private static TrackEventReadResult Read(JsonElement root, DateTimeOffset receivedAt, EventShape shape)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return TrackEventReadResult.Malformed("The request body must be a JSON object describing one event.");
        }

        // One pass over the fields: each model field is met at most once (the parser refuses duplicates).
        Errors errors = default;
        JsonElement? nameElement = null, trafficTypeElement = null, keyElement = null, value = null, properties = null, timestamp = null;
        Dictionary<string, JsonElement>? others = null;
        var sentReceivedAt = false;
        List<(string Field, string Model)>? caseVariants = null;
        List<string>? unknown = null;
        foreach (var field in root.EnumerateObject())
        {
            if (field.NameEquals(shape.NameField)) nameElement = field.Value;
            else if (field.NameEquals(shape.TrafficTypeField)) trafficTypeElement = field.Value;
            else if (field.NameEquals("key"u8)) keyElement = field.Value;
            else if (field.NameEquals("value"u8)) value = field.Value;
            else if (field.NameEquals("properties"u8)) properties = field.Value;
            else if (field.NameEquals("timestamp"u8)) timestamp = field.Value;
            else if (shape.IsFmeSdk) (unknown ??= []).Add(field.Name);
            else if (field.NameEquals("receivedAt"u8)) sentReceivedAt = true;
            else if (ModelFieldLike(field) is { } model) (caseVariants ??= []).Add((field.Name, model));
            else
            {
                (others ??= [])[field.Name] = field.Value;
            }
        }

        var name = ReadString(nameElement, shape.Name, required: true, ref errors);
        if (name is not null && !EventTypePattern().IsMatch(name))
        {
            errors.Add(shape.Name, $"'{shape.Name}' must start with a letter or digit and hold at most 80 letters, digits, '-', '_', '.' or ':' (the FME event type rule).");
        }
        // The SDKs lower-case traffic types (with a warning); so does the Api, so both stores agree.
        var trafficType = trafficTypeElement is { ValueKind: JsonValueKind.String } tt && tt.ValueEquals(TrackEvent.DefaultTrafficType)
            ? TrackEvent.DefaultTrafficType
            : ReadString(trafficTypeElement, shape.TrafficType, required: shape.IsFmeSdk, ref errors)?.ToLowerInvariant() ?? TrackEvent.DefaultTrafficType;
        // FME needs a key per event; the seed's clients may leave it out (those rows are in S3 only).
        var key = ReadString(keyElement, "key", required: shape.IsFmeSdk, ref errors)?.Trim();
        if (key is { Length: > MaxKeyLength })
        {
            errors.Add("key", $"'key' must be at most {MaxKeyLength} characters after trimming.");
        }
        CheckNumber(value, "value", ref errors);
        CheckObject(properties, "properties", ref errors);
        if (properties is { ValueKind: JsonValueKind.Object } props)
        {
            CheckProperties(props, ref errors);
        }
        if (shape.IsFmeSdk && !(timestamp is { ValueKind: JsonValueKind.Number } time && time.TryGetInt64(out var milliseconds) && milliseconds >= MinTimestamp))
        {
            errors.Add("timestamp", "'timestamp' must be when the event happened, in milliseconds since the epoch.");
        }
        foreach (var field in unknown ?? [])
        {
            errors.Add(field, $"'{field}' is not a field of FME's events API.");
        }
        if (sentReceivedAt)
        {
            errors.Add("receivedAt", "'receivedAt' is set by the server; leave it out.");
        }
        foreach (var (field, model) in caseVariants ?? [])
        {
            // "Name" next to "name" would be two columns to a case-insensitive reader such as Athena's JSON SerDe.
            errors.Add(field, $"'{field}' differs from the field '{model}' only in case; use '{model}'.");
        }

        if (errors.Any)
        {
            return TrackEventReadResult.Invalid(errors.ByField!);
        }

        return TrackEventReadResult.Ok(new TrackEvent
        {
            TrafficType = trafficType,
            Name = name!,
            Key = key,
            Value = value,
            Properties = properties,
            Timestamp = timestamp,
            ReceivedAt = receivedAt,
            OtherFields = others,
        });
    }

    /// <summary>The model field this one's name matches but for case, if any.</summary>
    private static string? ModelFieldLike(JsonProperty field)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(field);
        if (raw.Length is < 3 or > 11)
        {
            return null;
        }
        var ascii = raw.IndexOfAnyInRange((byte)0x80, (byte)0xFF) < 0 && !raw.Contains((byte)'\\');
        foreach (var model in ModelFields)
        {
            if (ascii ? System.Text.Ascii.EqualsIgnoreCase(raw, model) : string.Equals(model, field.Name, StringComparison.OrdinalIgnoreCase))
            {
                return model;
            }
        }
        return null;
    }

    /// <summary>
    /// An event's size as the FME SDKs estimate it (1 KB for the event, UTF-16 names and strings, 8 bytes a number, 4 a
    /// boolean), so what FME refuses as too large is refused here too.
    /// </summary>
    private static class FmeSize
    {
        public const int Event = 1024;
        public const int Number = 8;
        public const int Boolean = 4;

        public static int Text(int utf16Length) => 2 * utf16Length;
    }

    /// <summary>FME's limits on properties: flat values only, at most 300 of them, at most 32 KB.</summary>
    private static void CheckProperties(JsonElement properties, ref Errors errors)
    {
        List<string>? problems = null;
        var count = 0;
        var size = FmeSize.Event;
        foreach (var property in properties.EnumerateObject())
        {
            count++;
            size += FmeSize.Text(Utf16Length(property));
            switch (property.Value.ValueKind)
            {
                case JsonValueKind.String:
                    size += FmeSize.Text(Utf16Length(property.Value));
                    break;
                case JsonValueKind.Number:
                    size += FmeSize.Number;
                    break;
                case JsonValueKind.True or JsonValueKind.False:
                    size += FmeSize.Boolean;
                    break;
                case JsonValueKind.Object or JsonValueKind.Array:
                    (problems ??= []).Add($"'properties.{property.Name}' must be a string, number, boolean or null, not an {(property.Value.ValueKind == JsonValueKind.Object ? "object" : "array")}.");
                    break;
            }
        }
        if (count > MaxProperties)
        {
            (problems ??= []).Add($"'properties' has {count} entries; at most {MaxProperties} are allowed.");
        }
        if (size > MaxPropertiesBytes)
        {
            (problems ??= []).Add($"'properties' come to {size} bytes as FME counts them (1 KB + 2 per character of names and strings, 8 per number, 4 per boolean); at most {MaxPropertiesBytes} are allowed.");
        }
        if (problems is not null)
        {
            errors.Add("properties", [.. problems]);
        }
    }

    // A string's length in UTF-16 characters, counted on its raw UTF-8 (checked valid before parsing) without
    // decoding it. An escaped one is decoded, which also refuses an escaped lone surrogate as not being text.
    private static int Utf16Length(JsonProperty property) =>
        JsonMarshal.GetRawUtf8PropertyName(property) is var raw && raw.Contains((byte)'\\')
            ? property.Name.Length
            : System.Text.Encoding.UTF8.GetCharCount(raw);

    private static int Utf16Length(JsonElement text) =>
        JsonMarshal.GetRawUtf8Value(text)[1..^1] is var raw && raw.Contains((byte)'\\')
            ? text.GetString()!.Length
            : System.Text.Encoding.UTF8.GetCharCount(raw);

    [System.Text.RegularExpressions.GeneratedRegex(EventTypePatternText)]
    private static partial System.Text.RegularExpressions.Regex EventTypePattern();

    private static string? ReadString(JsonElement? found, string field, bool required, ref Errors errors)
    {
        if (found is not { ValueKind: not JsonValueKind.Null } element)
        {
            if (required)
            {
                errors.Add(field, $"'{field}' is required.");
            }
            return null;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            errors.Add(field, $"'{field}' must be a string.");
            return null;
        }

        var text = element.GetString();
        if (string.IsNullOrWhiteSpace(text))
        {
            errors.Add(field, $"'{field}' must not be empty.");
            return null;
        }
        return text;
    }

    /// <summary>A finite number or an explicit null, kept as received (so "1.50" stays "1.50").</summary>
    private static void CheckNumber(JsonElement? found, string field, ref Errors errors)
    {
        if (found is { ValueKind: not JsonValueKind.Null } element
            && (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var number) || !double.IsFinite(number)))
        {
            errors.Add(field, $"'{field}' must be a finite number or null.");
        }
    }

    /// <summary>An object, or an explicit null, kept as received.</summary>
    private static void CheckObject(JsonElement? found, string field, ref Errors errors)
    {
        if (found is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Object) })
        {
            errors.Add(field, $"'{field}' must be a JSON object.");
        }
    }

    /// <summary>
    /// The names and rules of one way in. <c>/api/track</c>: the seed's names, fields the model does not name kept as
    /// sent. The FME SDK's <c>events/bulk</c>: its names, key and time required, nothing else allowed (a field such as
    /// <c>name</c> would clash with a column of the row).
    /// </summary>
    internal sealed class EventShape
    {
        public static readonly EventShape Track = new("name", "trafficType", isFmeSdk: false);
        public static readonly EventShape FmeSdk = new("eventTypeId", "trafficTypeName", isFmeSdk: true);

        private EventShape(string name, string trafficType, bool isFmeSdk)
        {
            Name = name;
            TrafficType = trafficType;
            NameField = System.Text.Encoding.UTF8.GetBytes(name);
            TrafficTypeField = System.Text.Encoding.UTF8.GetBytes(trafficType);
            IsFmeSdk = isFmeSdk;
        }

        public string Name { get; }
        public string TrafficType { get; }
        public byte[] NameField { get; }
        public byte[] TrafficTypeField { get; }
        /// <summary>Traffic type, key and time required, no field but the model's allowed.</summary>
        public bool IsFmeSdk { get; }
    }

    /// <summary>Field name → what is wrong with it; nothing is allocated for an event that is valid.</summary>
    private struct Errors
    {
        public Dictionary<string, string[]>? ByField { get; private set; }

        public readonly bool Any => ByField is not null;

        public void Add(string field, params string[] messages) => (ByField ??= [])[field] = messages;
    }
}

public sealed record TrackEventReadResult
{
    /// <summary>The event as read; its values point into the request's parsed document, valid only while it is.</summary>
    internal TrackEvent? Event { get; private init; }

    /// <summary>The event's NDJSON line, as it is stored (without the newline).</summary>
    public byte[]? Line { get; private init; }

    /// <summary>Set when the body is not a JSON object at all.</summary>
    public string? MalformedReason { get; private init; }

    /// <summary>Field name → what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]>? FieldErrors { get; private init; }

    public static TrackEventReadResult Ok(TrackEvent evt) => new() { Event = evt };

    /// <summary>An event whose line is already written.</summary>
    internal static TrackEventReadResult Stored(byte[] line) => new() { Line = line };

    /// <summary>Writes the event's line while its document is still alive (no copy of its values is made).</summary>
    internal TrackEventReadResult ToLine() => Event is { } evt ? new() { Line = evt.ToJsonLine() } : this;

    public static TrackEventReadResult Malformed(string reason) => new() { MalformedReason = reason };

    public static TrackEventReadResult Invalid(IReadOnlyDictionary<string, string[]> errors) => new() { FieldErrors = errors };
}

public sealed record BatchReadResult
{
    /// <summary>Each event's NDJSON line, in order.</summary>
    public IReadOnlyList<byte[]>? Lines { get; private init; }

    /// <summary>Set when the body is not a batch at all.</summary>
    public string? MalformedReason { get; private init; }

    /// <summary>Set when the batch is well formed but holds fewer than <see cref="MinRows"/> rows: why.</summary>
    public string? EmptyReason { get; private init; }

    /// <summary>Set when the batch holds more events than allowed: how many it holds (at least).</summary>
    public int? TooManyEvents { get; private init; }

    /// <summary><c>[index].field</c> → what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]>? FieldErrors { get; private init; }

    /// <summary>The fewest rows a batch or an FME SDK post holds (the document's <c>minItems</c>).</summary>
    public const int MinRows = 1;

    public static BatchReadResult Ok(IReadOnlyList<byte[]> lines) => new() { Lines = lines };

    /// <summary>The rows read, or an empty batch (<paramref name="emptyReason"/>) when there are fewer than <see cref="MinRows"/>.</summary>
    public static BatchReadResult Rows(IReadOnlyList<byte[]> lines, string emptyReason) =>
        lines.Count < MinRows ? new() { EmptyReason = emptyReason } : Ok(lines);

    public static BatchReadResult Malformed(string reason) => new() { MalformedReason = reason };

    public static BatchReadResult TooMany(int count) => new() { TooManyEvents = count };

    public static BatchReadResult Invalid(IReadOnlyDictionary<string, string[]> errors) => new() { FieldErrors = errors };
}
