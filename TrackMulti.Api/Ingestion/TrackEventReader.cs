using System.Text.Json;
using System.Text.Json.Nodes;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// Turns a request body into a <see cref="TrackEvent"/>, or into the list of what is wrong with it, field by field.
/// Nothing is stored unless this succeeds.
/// </summary>
public static class TrackEventReader
{
    public static TrackEventReadResult Read(ReadOnlySpan<byte> body, DateTimeOffset receivedAt)
    {
        JsonNode? root;
        try
        {
            // Duplicate names are refused: which of two "name" fields would FME and S3 each have kept?
            root = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = 32, AllowDuplicateProperties = false });
        }
        catch (JsonException ex)
        {
            return TrackEventReadResult.Malformed($"The request body is not valid JSON: {ex.Message}");
        }

        if (root is not JsonObject fields)
        {
            return TrackEventReadResult.Malformed("The request body must be a JSON object describing one event.");
        }

        var errors = new Dictionary<string, string[]>();
        var name = ReadString(fields, "name", required: true, errors);
        var trafficType = ReadString(fields, "trafficType", required: false, errors) ?? TrackEvent.DefaultTrafficType;
        var key = ReadString(fields, "key", required: false, errors);
        var value = ReadNumber(fields, "value", errors);
        var properties = ReadObject(fields, "properties", errors);

        if (errors.Count > 0)
        {
            return TrackEventReadResult.Invalid(errors);
        }

        var others = new Dictionary<string, JsonElement>();
        foreach (var (field, node) in fields)
        {
            if (field is not ("name" or "trafficType" or "key" or "value" or "properties" or "receivedAt"))
            {
                others[field] = JsonSerializer.SerializeToElement(node);
            }
        }

        return TrackEventReadResult.Ok(new TrackEvent
        {
            TrafficType = trafficType,
            Name = name!,
            Key = key,
            Value = value,
            Properties = properties,
            ReceivedAt = receivedAt,
            OtherFields = others.Count > 0 ? others : null,
        });
    }

    private static string? ReadString(JsonObject fields, string field, bool required, Dictionary<string, string[]> errors)
    {
        if (!fields.TryGetPropertyValue(field, out var node) || node is null)
        {
            if (required)
            {
                errors[field] = [$"'{field}' is required."];
            }
            return null;
        }

        if (node.GetValueKind() != JsonValueKind.String)
        {
            errors[field] = [$"'{field}' must be a string."];
            return null;
        }

        var text = node.GetValue<string>();
        if (string.IsNullOrWhiteSpace(text))
        {
            errors[field] = [$"'{field}' must not be empty."];
            return null;
        }
        return text;
    }

    private static double? ReadNumber(JsonObject fields, string field, Dictionary<string, string[]> errors)
    {
        if (!fields.TryGetPropertyValue(field, out var node) || node is null)
        {
            return null;
        }

        if (node.GetValueKind() != JsonValueKind.Number || !double.IsFinite(node.GetValue<double>()))
        {
            errors[field] = [$"'{field}' must be a finite number or null."];
            return null;
        }
        return node.GetValue<double>();
    }

    private static JsonObject? ReadObject(JsonObject fields, string field, Dictionary<string, string[]> errors)
    {
        if (!fields.TryGetPropertyValue(field, out var node) || node is null)
        {
            return null;
        }

        if (node is not JsonObject obj)
        {
            errors[field] = [$"'{field}' must be a JSON object."];
            return null;
        }
        return (JsonObject)obj.DeepClone();
    }
}

public sealed record TrackEventReadResult
{
    public TrackEvent? Event { get; private init; }

    /// <summary>Set when the body is not a JSON object at all.</summary>
    public string? MalformedReason { get; private init; }

    /// <summary>Field name → what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]>? FieldErrors { get; private init; }

    public static TrackEventReadResult Ok(TrackEvent evt) => new() { Event = evt };

    public static TrackEventReadResult Malformed(string reason) => new() { MalformedReason = reason };

    public static TrackEventReadResult Invalid(IReadOnlyDictionary<string, string[]> errors) => new() { FieldErrors = errors };
}
