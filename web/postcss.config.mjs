// Tailwind 4 through PostCSS; app/globals.css says where its classes are (source("..")).
export default {
  plugins: {
    "@tailwindcss/postcss": {},
  },
};
