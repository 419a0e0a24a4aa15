using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using TrackMulti.Api.Ingestion;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The Api's OpenAPI document as a contract to check traffic against: a request's body and query against its
/// operation's schemas, an answer against the schema of its status and content type (JSON Schema 2020-12, as OpenAPI
/// 3.1 has it, by JsonSchema.Net). Each check gives what is wrong, empty when the document agrees.
/// </summary>
internal sealed partial class ApiContract(JsonNode document)
{
    public const string DocumentPath = "/openapi/v1.json";

    public JsonNode Document { get; } = document;

    public static async Task<ApiContract> FetchAsync(HttpClient http) =>
        new(JsonNode.Parse(await http.GetStringAsync(DocumentPath))!);

    /// <summary>The request as the document describes its operation: the query's parameters and the body for its content type.</summary>
    public IReadOnlyList<string> RequestErrors(string method, string pathAndQuery, string? contentType, string? body)
    {
        var (path, query) = Split(pathAndQuery);
        if (Operation(method, path) is not { } operation)
        {
            return [$"{method} {path} is not in the document"];
        }
        var errors = new List<string>();
        foreach (var (name, value) in query)
        {
            var parameter = operation["parameters"]?.AsArray().FirstOrDefault(p => p!["in"]!.GetValue<string>() == "query" && p["name"]!.GetValue<string>() == name);
            if (parameter is null)
            {
                errors.Add($"query parameter '{name}' is not documented");
                continue;
            }
            errors.AddRange(Evaluate(parameter["schema"]!, QueryValue(value, parameter["schema"]!)).Select(e => $"{name}: {e}"));
        }
        if (body is null)
        {
            return errors;
        }

        var media = MediaType(contentType);
        var content = operation["requestBody"]?["content"];
        if (content?[media ?? ""] is null)
        {
            errors.Add($"{method} {path} takes no body as '{contentType}'");
            return errors;
        }
        // NDJSON is documented as a string: its lines are the items of the application/json array.
        var (schema, instance) = EventIntake.NdjsonTypes.Contains(media, StringComparer.OrdinalIgnoreCase)
            ? (content["application/json"]!["schema"]!, Lines(body))
            : (content[media!]!["schema"]!, Parse(body));
        errors.AddRange(instance.Error is { } notJson ? [notJson] : Evaluate(schema, instance.Node));
        return errors;
    }

    /// <summary>The answer as the document describes the operation's response for its status and content type.</summary>
    public IReadOnlyList<string> ResponseErrors(string method, string pathAndQuery, int status, string? contentType, string body)
    {
        var (path, _) = Split(pathAndQuery);
        var response = Operation(method, path)?["responses"]?[status.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        if (response is null)
        {
            return [$"{method} {path} documents no {status}"];
        }
        var media = MediaType(contentType);
        if (response["content"] is not JsonObject content)
        {
            return body.Length == 0 ? [] : [$"{method} {path}: {status} is documented without a body but has one"];
        }
        if (media is null || content[media] is not { } documented)
        {
            return [$"{method} {path}: {status} is not documented as '{contentType}' (only {string.Join(", ", content.Select(c => c.Key))})"];
        }
        (JsonNode? Node, string? Error) instance = media.StartsWith("text/", StringComparison.Ordinal) ? (JsonValue.Create(body), null) : Parse(body);
        return instance.Error is { } notJson ? [notJson] : Evaluate(documented["schema"]!, instance.Node);
    }

    /// <summary>As <see cref="RequestErrors(string, string, string?, string?)"/>, for a body that may not be UTF-8 (then it is no JSON).</summary>
    public IReadOnlyList<string> RequestErrors(string method, string pathAndQuery, string? contentType, byte[] body)
    {
        string text;
        try
        {
            text = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (System.Text.DecoderFallbackException ex)
        {
            return [$"not UTF-8: {ex.Message}"];
        }
        return RequestErrors(method, pathAndQuery, contentType, text);
    }

    /// <summary>Whether the operation's response for <paramref name="status"/> names the problem <paramref name="type"/>.</summary>
    public static bool DocumentsProblem(JsonNode operation, int status, string type) =>
        operation["responses"]?[status.ToString(System.Globalization.CultureInfo.InvariantCulture)]?["content"]?[ApiDocument.ProblemContentType]?["examples"]?.AsObject()
            .Any(example => example.Value?["value"]?["type"]?.GetValue<string>() == type) == true;

    /// <summary>The operation at a path of the document (no query), or null.</summary>
    public JsonNode? Operation(string method, string path) => Document["paths"]?[path]?[method.ToLowerInvariant()];

    private IReadOnlyList<string> Evaluate(JsonNode schema, JsonNode? instance)
    {
        // The document's components become the schema's $defs, so its references resolve within it.
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$defs"] = Document["components"]?["schemas"]?.DeepClone() ?? new JsonObject(),
            ["allOf"] = new JsonArray(schema.DeepClone()),
        };
        var text = root.ToJsonString().Replace("\"#/components/schemas/", "\"#/$defs/", StringComparison.Ordinal);
        EvaluationResults results;
        try
        {
            results = JsonSchema.FromText(text).Evaluate(instance, new EvaluationOptions { OutputFormat = OutputFormat.List });
        }
        catch (InvalidOperationException ex)
        {
            // An escaped lone surrogate: valid JSON, but no string a schema can test (nor text).
            return [$"holds a string that is not text: {ex.Message}"];
        }
        if (results.IsValid)
        {
            return [];
        }
        IEnumerable<EvaluationResults> details = results.Details is { Count: > 0 } all ? all : [results];
        return [.. details
            .Where(detail => detail.HasErrors)
            .SelectMany(detail => detail.Errors!.Select(error => $"{detail.InstanceLocation} {error.Key}: {error.Value}"))
            .DefaultIfEmpty("invalid")];
    }

    private static (JsonNode? Node, string? Error) Parse(string body)
    {
        try
        {
            return (JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }), null);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            return (null, $"not JSON: {ex.Message}");
        }
    }

    private static (JsonNode? Node, string? Error) Lines(string body)
    {
        var items = new JsonArray();
        foreach (var line in body.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => !string.IsNullOrWhiteSpace(l)))
        {
            var (node, error) = Parse(line);
            if (error is not null)
            {
                return (null, error);
            }
            items.Add(node);
        }
        return (items, null);
    }

    /// <summary>A query value as its schema's type reads it: an integer only when it is written as one.</summary>
    private static JsonNode? QueryValue(string value, JsonNode schema) =>
        schema["type"]?.GetValue<string>() == "integer" && WholeNumber().IsMatch(value) && long.TryParse(value, out var number)
            ? JsonValue.Create(number)
            : JsonValue.Create(value);

    private static string? MediaType(string? contentType) =>
        contentType is null ? null : contentType.Split(';')[0].Trim().ToLowerInvariant();

    private static (string Path, List<(string Name, string Value)> Query) Split(string pathAndQuery)
    {
        var at = pathAndQuery.IndexOf('?');
        if (at < 0)
        {
            return (pathAndQuery, []);
        }
        var query = pathAndQuery[(at + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .Select(pair => (Uri.UnescapeDataString(pair[0]), pair.Length > 1 ? Uri.UnescapeDataString(pair[1]) : ""))
            .ToList();
        return (pathAndQuery[..at], query);
    }

    [GeneratedRegex(@"^-?[0-9]+$")]
    private static partial Regex WholeNumber();
}
