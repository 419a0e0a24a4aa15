using System.Globalization;
using System.Text;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// A Joda-Time <c>DateTimeFormat</c> pattern (what Hive's JSON SerDe parses <c>timestamp.formats</c> with), read as
/// Joda reads it and turned into a .NET exact-parse format. Joda's tokens: a run of one ASCII letter is a field, text
/// in single quotes (<c>''</c> for a quote) and any other character are literal; a letter Joda has no field for is
/// an error ("Illegal pattern component"), so an unquoted <c>T</c> makes the whole pattern unusable.
/// Only the fields the Api's times need are converted; any other Joda field is refused rather than guessed at.
/// </summary>
internal static class JodaPattern
{
    /// <summary>Every pattern letter Joda-Time knows (DateTimeFormat's table).</summary>
    private const string JodaLetters = "GCYxweEyDMdaKhHkmsSzZ";

    private static readonly Dictionary<string, string> Converted = new()
    {
        ["yyyy"] = "yyyy",
        ["MM"] = "MM",
        ["dd"] = "dd",
        ["HH"] = "HH",
        ["mm"] = "mm",
        ["ss"] = "ss",
        ["SSS"] = "fff",
    };

    /// <summary>The .NET custom format that parses what <paramref name="pattern"/> parses.</summary>
    /// <exception cref="FormatException">Joda would refuse the pattern.</exception>
    /// <exception cref="NotSupportedException">A Joda field this converter does not model.</exception>
    public static string ToDotNet(string pattern)
    {
        var format = new StringBuilder();
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (char.IsAsciiLetter(c))
            {
                var start = i;
                while (i < pattern.Length && pattern[i] == c)
                {
                    i++;
                }
                var field = pattern[start..i];
                if (!JodaLetters.Contains(c))
                {
                    throw new FormatException($"Illegal pattern component: {field} (Joda-Time refuses the pattern '{pattern}')");
                }
                format.Append(Converted.TryGetValue(field, out var converted)
                    ? converted
                    : throw new NotSupportedException($"The Joda field '{field}' is not modelled here."));
                continue;
            }
            // Literal text up to the next unquoted letter: quoted runs and other characters alike.
            var quoted = false;
            while (i < pattern.Length && (quoted || !char.IsAsciiLetter(pattern[i])))
            {
                if (pattern[i] == '\'')
                {
                    if (i + 1 < pattern.Length && pattern[i + 1] == '\'')
                    {
                        format.Append("\\'");
                        i += 2;
                        continue;
                    }
                    quoted = !quoted;
                    i++;
                    continue;
                }
                format.Append('\\').Append(pattern[i]);
                i++;
            }
        }
        return format.ToString();
    }

    /// <summary>
    /// <paramref name="text"/> parsed as Hive's TimestampParser does with one pattern: the whole text, in UTC
    /// (its chronology is UTC; a timestamp column has no zone); null when it does not parse.
    /// </summary>
    public static DateTime? Parse(string pattern, string text) =>
        DateTime.TryParseExact(text, ToDotNet(pattern), CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed) ? parsed : null;
}
